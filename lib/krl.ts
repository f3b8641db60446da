// OpenSSH Key Revocation Lists (PROTOCOL.krl), the binary file sshd loads with `RevokedKeys`.
// Writing: certificate serials per CA and SHA256 hashes of plain keys. Reading: everything
// `ssh-keygen -k` writes (serial lists, ranges and bitmaps, key ids, explicit keys, SHA1 and
// SHA256 hashes), so revocations made by Keyper can be imported. sshd refuses every key when its
// KRL does not parse, so the writer refuses any input that would make a KRL OpenSSH rejects.
import { fingerprintOf, parseKeyBlob } from './sshkeys.js';
import { WireReader, WireWriter } from './sshwire.js';

export class KrlError extends Error {
  override name = 'KrlError';
}

function fail(message: string): never {
  throw new KrlError(message);
}

const KRL_MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
const KRL_FORMAT_VERSION = 1;

const SECTION = {
  certificates: 1,
  explicitKey: 2,
  sha1: 3,
  signature: 4,
  sha256: 5,
  extension: 255,
} as const;

const CERT_SECTION = {
  serialList: 0x20,
  serialRange: 0x21,
  serialBitmap: 0x22,
  keyId: 0x23,
  extension: 0x39,
} as const;

const UINT64_MAX = (1n << 64n) - 1n;
const SHA256_BYTES = 32;
const SHA1_BYTES = 20;

/** A run this long or longer is cheaper as a range (16 bytes and a section header) than listed. */
const MIN_RANGE_RUN = 3;

// ---------------------------------------------------------------------------------------------
// Writing

export interface KrlInput {
  /** krl_version: should grow with every change, so servers can tell a newer list. */
  version: bigint;
  /** generated_date, seconds since the epoch. */
  generatedAt: number;
  comment?: string;
  /** Revoked certificate serials, per CA public key (SSH wire form; empty: certificates of any CA). */
  certificates?: ReadonlyArray<{ ca: Buffer; serials: Iterable<bigint> }>;
  /** Revoked plain keys, as `SHA256:...` fingerprints (`ssh-keygen -l` form). */
  fingerprints?: Iterable<string>;
}

/** The 32 hash bytes of a `SHA256:<unpadded base64>` fingerprint. */
export function sha256OfFingerprint(fingerprint: string): Buffer {
  const match = /^SHA256:([A-Za-z0-9+/]{43})$/.exec(fingerprint);
  const hash = match?.[1] === undefined ? undefined : Buffer.from(match[1], 'base64');
  if (hash?.length !== SHA256_BYTES || hash.toString('base64').replace(/=+$/, '') !== match?.[1]) {
    fail(`not a SHA256 key fingerprint: ${fingerprint.slice(0, 64)}`);
  }
  return hash;
}

type Run = [bigint, bigint];

/** Sorted, de-duplicated serials as runs of consecutive numbers. */
function serialRuns(serials: Iterable<bigint>): Run[] {
  const sorted = [...new Set(serials)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const runs: Run[] = [];
  for (const serial of sorted) {
    // OpenSSH refuses the whole KRL over a serial 0 (it means "no serial") or one beyond 64 bits.
    if (typeof serial !== 'bigint' || serial <= 0n || serial > UINT64_MAX) fail('a serial must be a non-zero 64-bit number');
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] + 1n === serial) last[1] = serial;
    else runs.push([serial, serial]);
  }
  return runs;
}

/** One KRL_SECTION_CERTIFICATES body: the CA, then ranges for long runs and one list for the rest. */
function certificateSection(ca: Buffer, runs: Run[]): Buffer {
  const writer = new WireWriter().string(ca).string('');
  const listed = new WireWriter();
  let listedAny = false;
  for (const [low, high] of runs) {
    if (high - low + 1n >= BigInt(MIN_RANGE_RUN)) {
      writer.byte(CERT_SECTION.serialRange).string(new WireWriter().uint64(low).uint64(high).toBuffer());
    } else {
      for (let serial = low; serial <= high; serial += 1n) listed.uint64(serial);
      listedAny = true;
    }
  }
  if (listedAny) writer.byte(CERT_SECTION.serialList).string(listed.toBuffer());
  return writer.toBuffer();
}

/** Groups serials by CA key, so a CA named twice gets one section. */
function serialsByCa(certificates: KrlInput['certificates']): Map<string, { ca: Buffer; serials: bigint[] }> {
  const byCa = new Map<string, { ca: Buffer; serials: bigint[] }>();
  for (const { ca, serials } of certificates ?? []) {
    try {
      if (ca.length > 0) parseKeyBlob(ca);
    } catch (error) {
      fail(`a CA key in the KRL is not valid: ${(error as Error).message}`);
    }
    const id = ca.toString('base64');
    const entry = byCa.get(id) ?? { ca, serials: [] };
    for (const serial of serials) entry.serials.push(serial);
    byCa.set(id, entry);
  }
  return byCa;
}

/** Builds a KRL. With nothing revoked it is the header alone, which OpenSSH loads as valid. */
export function writeKrl(input: KrlInput): Buffer {
  const comment = input.comment ?? '';
  if (comment.includes('\0')) fail('the KRL comment cannot contain NUL');
  if (!Number.isSafeInteger(input.generatedAt) || input.generatedAt < 0) fail('invalid generation time');
  const writer = new WireWriter()
    .raw(KRL_MAGIC)
    .uint32(KRL_FORMAT_VERSION)
    .uint64(input.version)
    .uint64(BigInt(input.generatedAt))
    .uint64(0n) // flags: none defined
    .string('') // reserved
    .string(comment);
  for (const { ca, serials } of serialsByCa(input.certificates).values()) {
    const runs = serialRuns(serials);
    if (runs.length > 0) writer.byte(SECTION.certificates).string(certificateSection(ca, runs));
  }
  // The hashes must be in numeric order, each hash a big-endian number (PROTOCOL.krl section 4).
  const hashes = [...new Set([...(input.fingerprints ?? [])])].map(sha256OfFingerprint).sort(Buffer.compare);
  if (hashes.length > 0) {
    const section = new WireWriter();
    for (const hash of hashes) section.string(hash);
    writer.byte(SECTION.sha256).string(section.toBuffer());
  }
  return writer.toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface KrlKey {
  /** The key type named in the blob, e.g. `ssh-ed25519`. */
  type: string;
  blob: Buffer;
  fingerprint: string;
}

export interface KrlCertificates {
  /** The CA whose certificates are revoked; undefined when the section applies to every CA. */
  ca: KrlKey | undefined;
  /** Revoked serials as sorted, merged inclusive ranges [low, high]. */
  serials: Array<[bigint, bigint]>;
  /** Certificates revoked by key id (ssh-keygen does this for certificates with serial 0). */
  keyIds: string[];
}

export interface KrlContents {
  version: bigint;
  generatedAt: bigint;
  comment: string;
  certificates: KrlCertificates[];
  /** Plain keys revoked by their whole blob (`ssh-keygen -k` with a key file or `key:`). */
  keys: KrlKey[];
  /** Plain keys revoked by SHA256 hash, as `SHA256:...` fingerprints. */
  sha256: string[];
  /** Plain keys revoked by SHA1 hash (hex): they cannot be turned into SHA256 fingerprints. */
  sha1: string[];
}

const keyOfBlob = (blob: Buffer): KrlKey => {
  const reader = new WireReader(blob, fail, 'a key in the KRL');
  return { type: reader.readText(), blob, fingerprint: fingerprintOf(blob) };
};

const fingerprintOfHash = (hash: Buffer): string => `SHA256:${hash.toString('base64').replace(/=+$/, '')}`;

/** Merges inclusive ranges into sorted, disjoint, non-adjacent ones. */
function mergeRanges(ranges: Run[]): Run[] {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Run[] = [];
  for (const [low, high] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && low <= last[1] + 1n) {
      if (high > last[1]) last[1] = high;
    } else {
      merged.push([low, high]);
    }
  }
  return merged;
}

/** A bitmap section: bit N set revokes serial offset + N. Runs of set bits become ranges. */
function bitmapRanges(offset: bigint, bitmap: Buffer): Run[] {
  const ranges: Run[] = [];
  let start: bigint | undefined;
  const close = (end: bigint): void => {
    if (start !== undefined) ranges.push([start, end]);
    start = undefined;
  };
  // The mpint is big-endian: bit N lives in the byte N / 8 from the end.
  for (let index = 0; index < bitmap.length; index += 1) {
    const byte = bitmap[bitmap.length - 1 - index] ?? 0;
    const base = offset + BigInt(index * 8);
    if (byte === 0 && start === undefined) continue;
    for (let bit = 0; bit < 8; bit += 1) {
      const serial = base + BigInt(bit);
      if (((byte >> bit) & 1) === 0) {
        close(serial - 1n);
      } else {
        if (serial === 0n || serial > UINT64_MAX) fail('a KRL serial bitmap revokes serial 0 or goes beyond 64 bits');
        start ??= serial;
      }
    }
  }
  close(offset + BigInt(bitmap.length * 8) - 1n);
  return ranges;
}

/** A KRL extension (section or certificate subsection): ignored unless marked critical. */
function checkExtension(body: Buffer): void {
  const reader = new WireReader(body, fail, 'a KRL extension');
  const name = reader.readText();
  const critical = reader.readByte() !== 0;
  reader.readString();
  if (!reader.atEnd()) fail('a KRL extension has unexpected data');
  if (critical) fail(`the KRL has a critical extension this reader does not know: ${name.slice(0, 64)}`);
}

function readCertificateSection(body: Buffer): KrlCertificates {
  const reader = new WireReader(body, fail, 'a KRL certificate section');
  const caBlob = reader.readString();
  reader.readString(); // reserved
  const ranges: Run[] = [];
  const keyIds: string[] = [];
  while (!reader.atEnd()) {
    const type = reader.readByte();
    const sub = new WireReader(reader.readString(), fail, 'a KRL certificate section');
    switch (type) {
      case CERT_SECTION.serialList:
        while (!sub.atEnd()) {
          const serial = sub.readUint64();
          if (serial === 0n) fail('a KRL revokes serial 0');
          ranges.push([serial, serial]);
        }
        break;
      case CERT_SECTION.serialRange: {
        const low = sub.readUint64();
        const high = sub.readUint64();
        if (low === 0n || low > high) fail('a KRL has an invalid serial range');
        ranges.push([low, high]);
        break;
      }
      case CERT_SECTION.serialBitmap: {
        const offset = sub.readUint64();
        ranges.push(...bitmapRanges(offset, sub.readUnsignedMpint()));
        break;
      }
      case CERT_SECTION.keyId:
        while (!sub.atEnd()) keyIds.push(sub.readText());
        break;
      case CERT_SECTION.extension:
        checkExtension(sub.readBytes(sub.remaining));
        break;
      default:
        fail(`unsupported KRL certificate section ${type}`);
    }
    if (!sub.atEnd()) fail('a KRL certificate section has unexpected data');
  }
  return { ca: caBlob.length === 0 ? undefined : keyOfBlob(caBlob), serials: mergeRanges(ranges), keyIds };
}

function readStrings(body: Buffer, length?: number): Buffer[] {
  const reader = new WireReader(body, fail, 'a KRL section');
  const items: Buffer[] = [];
  while (!reader.atEnd()) {
    const item = reader.readString();
    if (length !== undefined && item.length !== length) fail('a KRL hash has the wrong length');
    items.push(item);
  }
  return items;
}

/** Certificate sections naming the same CA are one list to the reader (OpenSSH merges them too). */
function mergeByCa(sections: KrlCertificates[]): KrlCertificates[] {
  const byCa = new Map<string, KrlCertificates>();
  for (const section of sections) {
    const id = section.ca?.blob.toString('base64') ?? '';
    const known = byCa.get(id);
    if (known === undefined) {
      byCa.set(id, section);
    } else {
      known.serials = mergeRanges([...known.serials, ...section.serials]);
      known.keyIds = [...new Set([...known.keyIds, ...section.keyIds])];
    }
  }
  return [...byCa.values()];
}

/** Reads a KRL as OpenSSH would, refusing what OpenSSH refuses; signed KRLs are refused. */
export function readKrl(data: Buffer): KrlContents {
  const reader = new WireReader(data, fail, 'the KRL');
  if (!reader.readBytes(KRL_MAGIC.length).equals(KRL_MAGIC)) fail('not an OpenSSH KRL');
  if (reader.readUint32() !== KRL_FORMAT_VERSION) fail('unsupported KRL format version');
  const version = reader.readUint64();
  const generatedAt = reader.readUint64();
  reader.readUint64(); // flags
  reader.readString(); // reserved
  const comment = reader.readText();
  const certificates: KrlCertificates[] = [];
  const keys: KrlKey[] = [];
  const sha256: Buffer[] = [];
  const sha1: Buffer[] = [];
  while (!reader.atEnd()) {
    const type = reader.readByte();
    const body = reader.readString();
    switch (type) {
      case SECTION.certificates:
        certificates.push(readCertificateSection(body));
        break;
      case SECTION.explicitKey:
        keys.push(...readStrings(body).map(keyOfBlob));
        break;
      case SECTION.sha1:
        sha1.push(...readStrings(body, SHA1_BYTES));
        break;
      case SECTION.sha256:
        sha256.push(...readStrings(body, SHA256_BYTES));
        break;
      case SECTION.extension:
        checkExtension(body);
        break;
      case SECTION.signature:
        fail('signed KRLs are not supported (OpenSSH 9.4 and later refuse them too)');
        break;
      default:
        fail(`unsupported KRL section ${type}`);
    }
  }
  const unique = (hashes: Buffer[]): Buffer[] =>
    [...new Map(hashes.map((hash) => [hash.toString('hex'), hash])).values()].sort(Buffer.compare);
  return {
    version,
    generatedAt,
    comment,
    certificates: mergeByCa(certificates),
    keys,
    sha256: unique(sha256).map(fingerprintOfHash),
    sha1: unique(sha1).map((hash) => hash.toString('hex')),
  };
}
