// Revoked keys and certificates, kept in the directory so every instance sees the same list at
// once, and the Key Revocation List built from them (GET /api/krlca).
//
// Layout: one entry per revocation under ou=revocations,<base>, which the first revocation
// creates. Each is added by one LDAP add, never read-modified-written: concurrent revocations
// never meet, the same one twice is one entry (AlreadyExists), and 10,000 revocations are 10,000
// small entries, each found by an indexed equality on cn (a one-level search) rather than one
// ever-growing value list. Entries (object class device, cn values in lower case):
// - a key:          cn=key-<sha256 hex>, description: SHA256:<base64> (as ssh-keygen -l prints it)
// - a certificate:  cn=cert-<CA sha256 hex>-<serial>, with the extra cn values serial-<serial>
//                   and certkey-<sha256 hex of the certified key> (so both can be looked up by
//                   equality), serialNumber: <serial>, description: the certified key's fingerprint
// - a CA:           cn=ca-<sha256 hex>, sshPublicKey: its public key line (to name it in the KRL)
// Revocations are permanent: the service never deletes one, so their number only grows, and it
// is the KRL's version. Each new revocation also rewrites the ou's description, which changes the
// ou's entryCSN: one small read then tells a warm function whether the list it built is current.
import { createHash, randomBytes } from 'node:crypto';
import { AlreadyExistsError, EqualityFilter, NoSuchObjectError, OrFilter, type Client, type Entry } from 'ldapts';
import { readEntry, searchChildren, value, values } from './directory.js';
import { CONTAINER_OBJECT_CLASSES, REVOCATION_OBJECT_CLASS, REVOCATION_OBJECT_CLASSES, REVOCATIONS_CONTAINER, revocationsDN } from './layout.js';
import { log } from './log.js';
import { sha256OfFingerprint, writeKrl } from './krl.js';
import { parseKeyBlob, parsePublicKey, SshKeyError } from './sshkeys.js';
import { replace } from './writes.js';

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The hex of a `SHA256:` fingerprint, or undefined when it is not one. */
const hexOf = (fingerprint: string): string | undefined =>
  FINGERPRINT.test(fingerprint) ? sha256OfFingerprint(fingerprint).toString('hex') : undefined;

const fingerprintOfHex = (hex: string): string => `SHA256:${Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '')}`;

export const keyCn = (hex: string): string => `key-${hex}`;
const certKeyCn = (hex: string): string => `certkey-${hex}`;
const serialCn = (serial: bigint): string => `serial-${serial}`;
const certCn = (caHex: string, serial: bigint): string => `cert-${caHex}-${serial}`;
const caCn = (caHex: string): string => `ca-${caHex}`;

const KEY_CN = /^key-([0-9a-f]{64})$/;
const CERT_CN = /^cert-([0-9a-f]{64})-([1-9][0-9]{0,19})$/;
const CA_CN = /^ca-([0-9a-f]{64})$/;

const UINT64_MAX = (1n << 64n) - 1n;

/** The sha256 hex of a CA public key blob (what names its certificates' revocations). */
export const caHexOf = (caBlob: Buffer): string => createHash('sha256').update(caBlob).digest('hex');

// ---- writes ----

/** Marks the list changed (a blind replace, never read-modify-write): the ou gets a new entryCSN. */
const markChanged = (client: Client, baseDN: string): Promise<void> =>
  client.modify(revocationsDN(baseDN), [replace('description', [`changed ${new Date().toISOString()} ${randomBytes(6).toString('hex')}`])]);

/**
 * Adds a revocation entry, then marks the list changed; one there already is a revocation made
 * already. Creates the ou if missing.
 */
const addRevocation = async (client: Client, baseDN: string, cn: string, attributes: Record<string, string | string[]>): Promise<void> => {
  const dn = `cn=${cn},${revocationsDN(baseDN)}`;
  const entry = { objectClass: REVOCATION_OBJECT_CLASSES, ...attributes };
  for (let attempt = 0; ; attempt += 1) {
    try {
      await client.add(dn, entry);
      await markChanged(client, baseDN);
      return;
    } catch (error) {
      if (error instanceof AlreadyExistsError) return;
      if (!(error instanceof NoSuchObjectError) || attempt > 0) throw error;
    }
    try {
      await client.add(revocationsDN(baseDN), { objectClass: CONTAINER_OBJECT_CLASSES, ou: REVOCATIONS_CONTAINER });
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
    }
  }
};

/** Revokes a plain key by its SHA256 fingerprint. */
export const revokeKey = async (client: Client, baseDN: string, fingerprint: string): Promise<void> => {
  const hex = hexOf(fingerprint);
  if (hex === undefined) throw new Error(`not a SHA256 fingerprint: ${fingerprint.slice(0, 60)}`);
  await addRevocation(client, baseDN, keyCn(hex), { cn: keyCn(hex), description: fingerprint });
};

export interface CertificateRevocation {
  /** The signing CA's public key (SSH wire form). */
  ca: Buffer;
  serial: bigint;
  /** The certified key's fingerprint, when that key may not be certified or stored again. */
  fingerprint?: string;
}

/** Revokes a certificate by serial under its CA; the CA's entry first, so the KRL can name it. */
export const revokeCertificate = async (client: Client, baseDN: string, revocation: CertificateRevocation): Promise<void> => {
  const { serial } = revocation;
  if (serial <= 0n || serial > UINT64_MAX) throw new Error('a certificate serial must be a non-zero 64-bit number');
  const ca = parseKeyBlob(revocation.ca);
  const caHex = caHexOf(revocation.ca);
  await addRevocation(client, baseDN, caCn(caHex), {
    objectClass: [...REVOCATION_OBJECT_CLASSES, 'ldapPublicKey'],
    cn: caCn(caHex),
    sshPublicKey: `${ca.type} ${revocation.ca.toString('base64')}`,
  });
  const keyHex = revocation.fingerprint === undefined ? undefined : hexOf(revocation.fingerprint);
  await addRevocation(client, baseDN, certCn(caHex, serial), {
    cn: [certCn(caHex, serial), serialCn(serial), ...(keyHex === undefined ? [] : [certKeyCn(keyHex)])],
    serialNumber: String(serial),
    ...(revocation.fingerprint === undefined ? {} : { description: revocation.fingerprint }),
  });
};

// ---- lookups (one search each, by indexed cn equality) ----

/** The lower-case cn values of the revocation entries that have any of `cns`; none when there is no ou yet. */
const findByCn = async (client: Client, baseDN: string, cns: string[]): Promise<Set<string>> => {
  if (cns.length === 0) return new Set();
  const filters = [...new Set(cns)].map((cn) => new EqualityFilter({ attribute: 'cn', value: cn }));
  try {
    const entries = await searchChildren(client, revocationsDN(baseDN), filters.length === 1 ? filters[0]! : new OrFilter({ filters }), ['cn']);
    return new Set(entries.flatMap((entry) => values(entry, 'cn').map((cn) => cn.toLowerCase())));
  } catch (error) {
    if (error instanceof NoSuchObjectError) return new Set();
    throw error;
  }
};

/** Each of these that is a fingerprint, with its hex: decoded once (most of these functions' own time). */
const withHex = (fingerprints: Iterable<string>): [string, string][] =>
  [...fingerprints].flatMap((fp): [string, string][] => {
    const hex = hexOf(fp);
    return hex === undefined ? [] : [[fp, hex]];
  });

/** Which of these fingerprints are revoked keys (what /api/authkeys must never answer). */
export const revokedKeys = async (client: Client, baseDN: string, fingerprints: Iterable<string>): Promise<Set<string>> => {
  const cns = withHex(fingerprints).map(([fp, hex]) => [fp, keyCn(hex)] as const);
  const found = await findByCn(client, baseDN, cns.map(([, cn]) => cn));
  return new Set(cns.filter(([, cn]) => found.has(cn)).map(([fp]) => fp));
};

/** Which of these fingerprints may not be stored again: revoked keys, and keys whose certificate was revoked. */
export const refusedKeys = async (client: Client, baseDN: string, fingerprints: Iterable<string>): Promise<Set<string>> => {
  const cns = withHex(fingerprints).map(([fp, hex]) => [fp, keyCn(hex), certKeyCn(hex)] as const);
  const found = await findByCn(client, baseDN, cns.flatMap(([, key, cert]) => [key, cert]));
  return new Set(cns.filter(([, key, cert]) => found.has(key) || found.has(cert)).map(([fp]) => fp));
};

/** What authprinc needs to know in the same round trip as its other reads. */
export interface CertificateRevocationFacts {
  /** Is the certificate with this serial, signed by the CA with this sha256 hex, revoked? */
  certificateRevoked(caHex: string, serial: bigint): boolean;
  keyRevoked: boolean;
}

/** Revocations of any certificate with this serial, and of the key with this fingerprint. */
export const readCertificateRevocations = async (
  client: Client,
  baseDN: string,
  serial: bigint,
  fingerprint: string,
): Promise<CertificateRevocationFacts> => {
  const keyHex = hexOf(fingerprint);
  const found = await findByCn(client, baseDN, [serialCn(serial), ...(keyHex === undefined ? [] : [keyCn(keyHex)])]);
  return {
    certificateRevoked: (caHex, certSerial) => found.has(certCn(caHex, certSerial)),
    keyRevoked: keyHex !== undefined && found.has(keyCn(keyHex)),
  };
};

// ---- the KRL ----

export interface RevocationList {
  /** Revoked keys, as SHA256 fingerprints. */
  keys: string[];
  /** Revoked serials by CA sha256 hex. */
  serials: Map<string, bigint[]>;
  /** CA public key blobs by sha256 hex. */
  cas: Map<string, Buffer>;
  /** The newest revocation's createTimestamp (seconds since the epoch); 0 when there is none. */
  newest: number;
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/;

const secondsOf = (time: string | undefined): number => {
  const parts = time === undefined ? undefined : GENERALIZED_TIME.exec(time)?.slice(1).map(Number);
  if (parts === undefined) return 0;
  const [year = 0, month = 1, day = 1, hours = 0, minutes = 0, seconds = 0] = parts;
  return Date.UTC(year, month - 1, day, hours, minutes, seconds) / 1000;
};

/** Sorts one revocation entry into the list; an entry that is none of the three is logged and left out. */
const collect = (list: RevocationList, entry: Entry): void => {
  const cns = values(entry, 'cn').map((cn) => cn.toLowerCase());
  const created = secondsOf(value(entry, 'createTimestamp'));
  for (const cn of cns) {
    const key = KEY_CN.exec(cn);
    if (key?.[1] !== undefined) {
      list.keys.push(fingerprintOfHex(key[1]));
      list.newest = Math.max(list.newest, created);
      return;
    }
    const cert = CERT_CN.exec(cn);
    if (cert?.[1] !== undefined && cert[2] !== undefined && BigInt(cert[2]) <= UINT64_MAX) {
      const serials = list.serials.get(cert[1]) ?? [];
      serials.push(BigInt(cert[2]));
      list.serials.set(cert[1], serials);
      list.newest = Math.max(list.newest, created);
      return;
    }
    const ca = CA_CN.exec(cn);
    if (ca?.[1] !== undefined) {
      const line = value(entry, 'sshPublicKey');
      try {
        const blob = parsePublicKey(line ?? '').blob;
        if (caHexOf(blob) === ca[1]) list.cas.set(ca[1], blob);
        else log('warn', 'a CA entry in ou=revocations holds another key', { dn: entry.dn });
      } catch (error) {
        if (!(error instanceof SshKeyError)) throw error;
        log('warn', 'a CA entry in ou=revocations has no valid key', { dn: entry.dn });
      }
      return;
    }
  }
  log('warn', 'not a revocation entry', { dn: entry.dn });
};

/** Every revocation (one paged search); an empty list when there is no ou yet. */
export const readRevocations = async (client: Client, baseDN: string): Promise<RevocationList> => {
  const list: RevocationList = { keys: [], serials: new Map(), cas: new Map(), newest: 0 };
  let entries: Entry[];
  try {
    entries = await searchChildren(client, revocationsDN(baseDN), new EqualityFilter({ attribute: 'objectClass', value: REVOCATION_OBJECT_CLASS }), ['cn', 'sshPublicKey', 'createTimestamp'], { paged: true });
  } catch (error) {
    if (error instanceof NoSuchObjectError) return list;
    throw error;
  }
  for (const entry of entries) collect(list, entry);
  return list;
};

export interface BuiltKrl {
  body: Buffer;
  /** krl_version: the number of revocations, which only grows. */
  version: bigint;
  etag: string;
}

const KRL_COMMENT = 'Keyper';

/**
 * The KRL of a revocation list. The same list always gives the same bytes (generated_date is the
 * newest revocation's time, CAs in a fixed order), so the ETag changes exactly when the list does.
 * Serials of a CA whose entry is missing are revoked for every CA (an empty CA key), never dropped.
 */
export const buildKrl = (list: RevocationList): BuiltKrl => {
  const certificates = [...list.serials.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([caHex, serials]) => {
      const ca = list.cas.get(caHex);
      if (ca === undefined) log('warn', 'revoked serials of a CA with no entry in ou=revocations: revoked for every CA', { ca: fingerprintOfHex(caHex) });
      return { ca: ca ?? Buffer.alloc(0), serials };
    });
  const count = list.keys.length + [...list.serials.values()].reduce((sum, serials) => sum + serials.length, 0);
  const version = BigInt(count);
  const body = writeKrl({ version, generatedAt: list.newest, comment: KRL_COMMENT, certificates, fingerprints: list.keys });
  const digest = createHash('sha256').update(body).digest('base64url').slice(0, 27);
  return { body, version, etag: `"${version}-${digest}"` };
};

/**
 * How long a warm function answers from the list it built while the ou's entryCSN stays the same:
 * the bound on how long a revocation whose writer died before marking the list changed can go
 * unseen by that function (cold ones read the whole list).
 */
export const KRL_CACHE_MS = 5 * 60_000;

let cachedKrl: { key: string; at: number; krl: BuiltKrl } | undefined;

/**
 * The current KRL: the one built before when the ou's entryCSN (read first, in one small read) is
 * the one it was built under and it is younger than KRL_CACHE_MS, else built from every
 * revocation. A revocation added while the list is being read changes the entryCSN after it, so
 * the next request rebuilds.
 */
export const currentKrl = async (client: Client, baseDN: string, now: number = Date.now()): Promise<BuiltKrl> => {
  const ou = await readEntry(client, revocationsDN(baseDN), ['entryCSN']);
  const stamp = ou === undefined ? undefined : value(ou, 'entryCSN');
  const key = `${baseDN}\n${stamp ?? ''}`;
  if (stamp !== undefined && cachedKrl?.key === key && now - cachedKrl.at < KRL_CACHE_MS) return cachedKrl.krl;
  const krl = buildKrl(await readRevocations(client, baseDN));
  cachedKrl = stamp === undefined ? undefined : { key, at: now, krl };
  return krl;
};

/** Whether an If-None-Match header names this ETag (weak or strong, in a list, or `*`). */
export const matchesEtag = (header: string | undefined, etag: string): boolean =>
  header !== undefined && header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
