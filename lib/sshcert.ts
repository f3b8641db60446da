// OpenSSH certificates (`*-cert-v01@openssh.com`, PROTOCOL.certkeys): signing a user's or host's
// public key with a CA, and reading a certificate line back with its signature checked. Pure apart
// from the random serial and nonce, which callers may pass in; time is always an input.
import { randomBytes } from 'node:crypto';
import { signWithCa, verifySignature, type CaKey } from './sshca.js';
import {
  SshKeyError,
  checkRawText,
  decodeBase64,
  fingerprintOf,
  parseKeyBlob,
  parsePublicKey,
  readKeyFields,
  type ParsedKey,
  type ParsedKeyBlob,
  type SshKeyType,
} from './sshkeys.js';
import { WireReader, WireWriter } from './sshwire.js';

export type CertificateType = 'user' | 'host';

/** A refused certificate or certificate request; the message can be shown to the client (400). */
export class CertificateError extends SshKeyError {
  override name = 'CertificateError';
}

function fail(message: string): never {
  throw new CertificateError(message);
}

/** The key types certificates are issued for (security keys are not). */
export type CertifiableKeyType = Exclude<SshKeyType, 'sk-ssh-ed25519@openssh.com' | 'sk-ecdsa-sha2-nistp256@openssh.com'>;

const CERTIFIABLE: ReadonlySet<string> = new Set<CertifiableKeyType>([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
]);

const isCertifiable = (type: string): type is CertifiableKeyType => CERTIFIABLE.has(type);

const CERT_SUFFIX = '-cert-v01@openssh.com';

const CERT_TYPE_CODES: Readonly<Record<CertificateType, number>> = { user: 1, host: 2 };

/** What `ssh-keygen -s` grants a user certificate by default. */
export const USER_EXTENSIONS: readonly string[] = [
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
];

/** sshd refuses certificates with more principals than this (SSHKEY_CERT_MAX_PRINCIPALS). */
export const MAX_PRINCIPALS = 256;

/** Clock skew allowance: certificates are valid from this many seconds before they are made. */
export const CLOCK_SKEW_SECONDS = 5 * 60;

const UINT64_MAX = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Inputs

/** Whitespace, commas and control characters (C0, DEL, C1) are never part of a principal. */
// eslint-disable-next-line no-control-regex
const BAD_PRINCIPAL = /[,\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]/u;

/**
 * A principal goes into sshd's comma-separated lists and AuthorizedPrincipals lines, where a
 * comma or blank would split it into two names and a control character could forge log lines.
 */
export function checkPrincipal(principal: string): void {
  if (typeof principal !== 'string' || principal === '') fail('a principal must be a non-empty string');
  if (BAD_PRINCIPAL.test(principal)) {
    fail(`principal ${JSON.stringify(principal.slice(0, 64))} contains a comma, whitespace or a control character`);
  }
  if (/\p{Cs}/u.test(principal)) fail('a principal must be valid UTF-8 text');
}

/** The key id is free text that sshd logs: no control characters, no line breaks. */
function checkKeyId(keyId: string): void {
  // eslint-disable-next-line no-control-regex
  if (typeof keyId !== 'string' || /[\x00-\x1f\x7f-\x9f\u2028\u2029]|\p{Cs}/u.test(keyId)) {
    fail('the key id must be text without control characters');
  }
}

/** A random serial: 64 bits, never zero (zero means "no serial" and cannot be revoked by number). */
export function randomSerial(random: (size: number) => Buffer = randomBytes): bigint {
  for (;;) {
    const serial = random(8).readBigUInt64BE(0);
    if (serial !== 0n) return serial;
  }
}

/** Validity from CLOCK_SKEW_SECONDS before `now` (seconds since the epoch) to `now + duration`. */
export function certificateValidity(now: number, durationSeconds: number): { validAfter: number; validBefore: number } {
  return { validAfter: Math.max(0, now - CLOCK_SKEW_SECONDS), validBefore: now + durationSeconds };
}

// ---------------------------------------------------------------------------------------------
// Signing

export interface CertificateRequest {
  /** The subject's public key line, or the key as parsePublicKey returned it. */
  publicKey: string | ParsedKey;
  type: CertificateType;
  keyId: string;
  principals: readonly string[];
  /** Seconds since the epoch: valid when validAfter <= now < validBefore. */
  validAfter: number;
  validBefore: number;
  serial: bigint;
  /** Random per certificate (32 bytes unless given). */
  nonce?: Buffer;
  /** Comment after the certificate on its line; none unless given. */
  comment?: string;
}

export interface SignedCertificate {
  /** The whole certificate in wire form. */
  blob: Buffer;
  /** `<type>-cert-v01@openssh.com <base64>[ comment]`, as in an `-cert.pub` file. */
  line: string;
  serial: bigint;
  /** The fingerprint of the certified key (what sshd passes as %f). */
  fingerprint: string;
}

const isUint64Seconds = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;

/** `string name, string data` pairs in the byte order of their names, as OpenSSH requires. */
function encodeOptions(names: readonly string[]): Buffer {
  const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const writer = new WireWriter();
  // Every option we write is a flag: its data is the empty string.
  for (const name of sorted) writer.string(name).string('');
  return writer.toBuffer();
}

function checkRequest(request: CertificateRequest): ParsedKey {
  const key = typeof request.publicKey === 'string' ? parsePublicKey(request.publicKey) : request.publicKey;
  if (!isCertifiable(key.type)) fail(`certificates are not issued for ${key.type} keys`);
  if (request.type !== 'user' && request.type !== 'host') fail('the certificate type must be user or host');
  checkKeyId(request.keyId);
  if (request.principals.length === 0) fail('a certificate needs at least one principal');
  if (request.principals.length > MAX_PRINCIPALS) fail(`a certificate has at most ${MAX_PRINCIPALS} principals`);
  request.principals.forEach(checkPrincipal);
  if (new Set(request.principals).size !== request.principals.length) fail('the principals must be unique');
  if (!isUint64Seconds(request.validAfter) || !isUint64Seconds(request.validBefore)) fail('invalid validity');
  if (request.validAfter >= request.validBefore) fail('the certificate validity is empty');
  if (request.serial <= 0n || request.serial > UINT64_MAX) fail('the serial must be a non-zero 64-bit number');
  return key;
}

/** Signs a certificate for the request's key with the CA (field order: PROTOCOL.certkeys). */
export function signCertificate(ca: CaKey, request: CertificateRequest): SignedCertificate {
  const key = checkRequest(request);
  const certType = `${key.type}${CERT_SUFFIX}`;
  // The key's own fields follow the nonce unchanged: everything in its blob after the type.
  const keyFields = key.blob.subarray(4 + key.type.length);
  const principals = new WireWriter();
  for (const principal of request.principals) principals.string(principal);
  const tbs = new WireWriter()
    .string(certType)
    .string(request.nonce ?? randomBytes(32))
    .raw(keyFields)
    .uint64(request.serial)
    .uint32(CERT_TYPE_CODES[request.type])
    .string(request.keyId)
    .string(principals.toBuffer())
    .uint64(BigInt(request.validAfter))
    .uint64(BigInt(request.validBefore))
    .string('') // critical options: none
    .string(request.type === 'user' ? encodeOptions(USER_EXTENSIONS) : Buffer.alloc(0))
    .string('') // reserved
    .string(ca.blob)
    .toBuffer();
  const blob = Buffer.concat([tbs, new WireWriter().string(signWithCa(ca, tbs)).toBuffer()]);
  const comment = request.comment ?? '';
  const base = `${certType} ${blob.toString('base64')}`;
  return {
    blob,
    line: comment === '' ? base : `${base} ${comment}`,
    serial: request.serial,
    fingerprint: key.fingerprint,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ParsedCertificate {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  certType: string;
  /** The certified key's own type, e.g. `ssh-ed25519`. */
  keyType: CertifiableKeyType;
  type: CertificateType;
  serial: bigint;
  keyId: string;
  principals: string[];
  /**
   * Seconds since the epoch. The wire holds uint64; values beyond Number.MAX_SAFE_INTEGER (such
   * as ssh-keygen's "forever") read as Infinity, which compares correctly with any real time.
   */
  validAfter: number;
  validBefore: number;
  criticalOptions: Map<string, Buffer>;
  extensions: Map<string, Buffer>;
  /** The certified key: its plain wire blob and fingerprint (what sshd passes as %f). */
  key: { blob: Buffer; fingerprint: string; bits: number };
  /** The CA that signed it; the signature has been verified with this key. */
  ca: ParsedKeyBlob;
  nonce: Buffer;
  blob: Buffer;
  comment: string;
}

const secondsOf = (value: bigint): number => (value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value));

/**
 * Options or extensions: name/data pairs. The writer keeps them in byte order as the protocol
 * asks, but OpenSSH itself does not check the order when reading, so neither does this.
 */
function readOptions(bytes: Buffer, what: string): Map<string, Buffer> {
  const reader = new WireReader(bytes, fail, `certificate ${what}`);
  const options = new Map<string, Buffer>();
  while (!reader.atEnd()) {
    const name = reader.readText();
    options.set(name, reader.readString());
  }
  return options;
}

function readPrincipals(bytes: Buffer): string[] {
  const reader = new WireReader(bytes, fail, 'certificate principals');
  const principals: string[] = [];
  while (!reader.atEnd()) {
    if (principals.length === MAX_PRINCIPALS) fail(`a certificate has at most ${MAX_PRINCIPALS} principals`);
    principals.push(reader.readText());
  }
  return principals;
}

/** `type base64 [comment]`, blank-separated as in authorized_keys (space and tab only). */
function splitCertificateLine(line: string): { certType: string; base64: string; comment: string } {
  checkRawText(line);
  const match = /^[ \t]*([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+(.*?))?[ \t]*$/.exec(line);
  if (match?.[1] === undefined || match[2] === undefined) fail('a certificate line is "<type> <base64> [comment]"');
  return { certType: match[1], base64: match[2], comment: match[3] ?? '' };
}

/** Parses a certificate line and verifies its signature by the CA key it names. */
export function parseCertificate(line: string): ParsedCertificate {
  const { certType, base64, comment } = splitCertificateLine(line);
  const keyType = certType.endsWith(CERT_SUFFIX) ? certType.slice(0, -CERT_SUFFIX.length) : '';
  if (!isCertifiable(keyType)) fail(`unsupported certificate type: ${certType.slice(0, 64)}`);
  const blob = decodeBase64(base64);
  const reader = new WireReader(blob, fail, 'certificate');
  if (reader.readString().toString('latin1') !== certType) fail('the certificate type does not match its line');
  const nonce = reader.readString();
  const fieldsStart = reader.offset;
  const { bits } = readKeyFields(keyType, reader);
  const keyBlob = Buffer.concat([new WireWriter().string(keyType).toBuffer(), blob.subarray(fieldsStart, reader.offset)]);
  const serial = reader.readUint64();
  const typeCode = reader.readUint32();
  const type: CertificateType | undefined = typeCode === 1 ? 'user' : typeCode === 2 ? 'host' : undefined;
  if (type === undefined) fail('the certificate is neither a user nor a host certificate');
  const keyId = reader.readText();
  const principals = readPrincipals(reader.readString());
  const validAfter = secondsOf(reader.readUint64());
  const validBefore = secondsOf(reader.readUint64());
  const criticalOptions = readOptions(reader.readString(), 'critical options');
  const extensions = readOptions(reader.readString(), 'extensions');
  reader.readString(); // reserved
  const ca = parseKeyBlob(reader.readString());
  if (!isCertifiable(ca.type)) fail(`unsupported CA key type: ${ca.type}`);
  const signedLength = reader.offset;
  const signature = reader.readString();
  if (!reader.atEnd()) fail('unexpected data after the certificate');
  if (!verifySignature(ca, signature, blob.subarray(0, signedLength))) fail('the certificate signature is not valid');
  return {
    certType,
    keyType,
    type,
    serial,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    key: { blob: keyBlob, fingerprint: fingerprintOf(keyBlob), bits },
    ca,
    nonce,
    blob,
    comment,
  };
}
