// Parsing and validation of OpenSSH public key lines (the `type base64 [comment]` form that goes
// into authorized_keys). This module owns deciding whether a submitted key is acceptable, its
// normalised form and its fingerprint. It is pure: Node's crypto and Buffer only, no ssh-keygen.
// Every rejection is an SshKeyError whose message can be shown to the client as a 400.
// Certificates and KRLs carry keys as bare wire blobs: parseKeyBlob and readKeyFields check those.
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { WireReader } from './sshwire.js';

export type SshKeyType =
  | 'ssh-ed25519'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'ssh-rsa'
  | 'sk-ssh-ed25519@openssh.com'
  | 'sk-ecdsa-sha2-nistp256@openssh.com';

export interface ParsedKey {
  type: SshKeyType;
  /** The decoded SSH wire-format key blob. */
  blob: Buffer;
  /** The blob as canonical base64 (exactly as submitted, since non-canonical base64 is refused). */
  base64: string;
  /** The comment, trimmed; '' when there is none. */
  comment: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** 256 for ed25519, the curve size for ECDSA, the modulus size for RSA. */
  bits: number;
  /** `${type} ${base64}` plus ` ${comment}` when there is one. */
  line: string;
}

export class SshKeyError extends Error {
  override name = 'SshKeyError';
}

/** The whole submitted line, comment included: far above any real key (RSA-16384 is ~2.8 KB). */
export const MAX_KEY_LENGTH = 16 * 1024;

/** Comments are labels like `alice@laptop`; a kilobyte is generous and keeps listings readable. */
const MAX_COMMENT_BYTES = 1024;

/** OpenSSH itself refuses RSA moduli above this (SSH_RSA_MAXIMUM_MODULUS_SIZE). */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;

const ED25519_KEY_BYTES = 32;

type Curve = 'nistp256' | 'nistp384' | 'nistp521';

interface CurveInfo {
  jwkCurve: 'P-256' | 'P-384' | 'P-521';
  bits: number;
  /** Bytes of one coordinate; the uncompressed point is 0x04 || x || y. */
  coordinateBytes: number;
}

const CURVES: Readonly<Record<Curve, CurveInfo>> = {
  nistp256: { jwkCurve: 'P-256', bits: 256, coordinateBytes: 32 },
  nistp384: { jwkCurve: 'P-384', bits: 384, coordinateBytes: 48 },
  nistp521: { jwkCurve: 'P-521', bits: 521, coordinateBytes: 66 },
};

const KEY_TYPES: ReadonlySet<string> = new Set<SshKeyType>([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export const isKeyType = (token: string): token is SshKeyType => KEY_TYPES.has(token);

// A declaration (not an arrow) so TypeScript treats calls as ending the control flow.
function fail(message: string): never {
  throw new SshKeyError(message);
}

/** 'SHA256:' + unpadded base64 of the blob's SHA-256: the form `ssh-keygen -lf` prints. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

// ---------------------------------------------------------------------------------------------
// The text line

/**
 * Checks that need nothing but the raw string. Size comes first so a huge body costs nothing
 * more; line breaks get their own message because a value with a line break is an attempt to
 * smuggle a second entry into a generated authorized_keys file.
 */
export function checkRawText(line: string): void {
  // UTF-16 length is a lower bound of the UTF-8 size, so the cheap test goes first.
  if (line.length > MAX_KEY_LENGTH || Buffer.byteLength(line, 'utf8') > MAX_KEY_LENGTH) {
    fail('key is larger than 16 KB');
  }
  // U+2028/U+2029 are line breaks to JavaScript and to many viewers of the stored value.
  if (/[\r\n\u2028\u2029]/.test(line)) fail('key must be a single line');
  // C0 controls except tab, DEL, and C1 controls (which some terminals still interpret).
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(line)) fail('key contains control characters');
  // A lone surrogate cannot be written as UTF-8; it would be silently replaced when stored.
  if (/\p{Cs}/u.test(line)) fail('key is not valid UTF-8 text');
}

interface LineFields {
  type: SshKeyType;
  base64: string;
  comment: string;
}

/** Space and tab are the only separators authorized_keys knows. */
const SEPARATOR = /[ \t]+/;

const trimBlanks = (text: string): string => text.replace(/^[ \t]+|[ \t]+$/g, '');

/** Splits off the first blank-separated token; rest is '' when there is none. */
function splitToken(text: string): { token: string; rest: string } {
  const match = SEPARATOR.exec(text);
  if (match === null) return { token: text, rest: '' };
  return { token: text.slice(0, match.index), rest: text.slice(match.index + match[0].length) };
}

/** Makes untrusted text safe to echo in an error message: bounded length. */
const quote = (text: string): string => (text.length > 64 ? `${text.slice(0, 64)}...` : text);

/**
 * authorized_keys lines may start with options (`command="..."`, `from=...`, `no-pty,...`).
 * We store bare keys only: options would let a key holder grant themselves or others access
 * rules the API never decided, so they are refused rather than stripped.
 */
function looksLikeOptions(firstToken: string, rest: string): boolean {
  if (/[=,"]/.test(firstToken)) return true;
  return rest.split(SEPARATOR).some((token) => isKeyType(token) || token === 'ssh-dss');
}

function classifyType(firstToken: string, rest: string): SshKeyType {
  if (isKeyType(firstToken)) return firstToken;
  if (firstToken === 'ssh-dss') fail('ssh-dss keys are not accepted');
  if (looksLikeOptions(firstToken, rest)) fail('key options such as command= are not allowed');
  return fail(`unsupported key type: ${quote(firstToken)}`);
}

function checkComment(comment: string): void {
  if (Buffer.byteLength(comment, 'utf8') > MAX_COMMENT_BYTES) {
    fail(`key comment is longer than ${MAX_COMMENT_BYTES} bytes`);
  }
}

function splitLine(line: string): LineFields {
  const text = trimBlanks(line);
  if (text === '') fail('key is empty');
  const first = splitToken(text);
  const type = classifyType(first.token, first.rest);
  if (first.rest === '') fail('key data is missing after the key type');
  const second = splitToken(first.rest);
  // The comment is everything after the data, inner spacing kept as the owner wrote it.
  const comment = trimBlanks(second.rest);
  checkComment(comment);
  return { type, base64: second.token, comment };
}

/**
 * Strict base64: standard alphabet, correct padding, and canonical (re-encoding gives the same
 * text). Buffer.from(…, 'base64') silently skips junk, so its result alone proves nothing.
 */
export function decodeBase64(text: string): Buffer {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) fail('key is not valid base64');
  const blob = Buffer.from(text, 'base64');
  if (blob.length === 0 || blob.toString('base64') !== text) fail('key is not valid base64');
  return blob;
}

// ---------------------------------------------------------------------------------------------
// The wire blob (RFC 4251: uint32 big-endian length-prefixed strings and mpints)

const blobReader = (blob: Buffer): WireReader => new WireReader(blob, fail, 'key blob');

/** Shows a blob-supplied name in an error only when it is short printable ASCII. */
const describeName = (name: Buffer): string => {
  const text = name.toString('latin1');
  return /^[\x21-\x7e]{1,64}$/.test(text) ? text : 'unreadable';
};

const bitLength = (magnitude: Buffer): number => {
  const top = magnitude[0];
  return top === undefined ? 0 : (magnitude.length - 1) * 8 + (32 - Math.clz32(top));
};

const base64url = (bytes: Buffer): string => bytes.toString('base64url');

/** What the key fields say: the size, and (for plain keys) the key as a JWK for Node's crypto. */
export interface KeyFields {
  /** 256 for ed25519, the curve size for ECDSA, the modulus size for RSA. */
  bits: number;
  /** undefined for security keys (sk-*), whose signatures Node cannot check. */
  jwk: JsonWebKey | undefined;
}

function readEd25519Key(reader: WireReader): JsonWebKey {
  // Any 32 bytes are accepted here, as OpenSSH and OpenSSL do: neither checks that an Ed25519
  // public key decodes to a curve point, and a bad one simply never verifies a signature.
  const key = reader.readString();
  if (key.length !== ED25519_KEY_BYTES) fail('ed25519 key must be 32 bytes');
  return { kty: 'OKP', crv: 'Ed25519', x: base64url(key) };
}

function readEcdsaKey(reader: WireReader, expected: Curve, type: SshKeyType): KeyFields {
  const curveName = reader.readString();
  if (curveName.toString('latin1') !== expected) {
    fail(`key curve (${describeName(curveName)}) does not match the key type (${type})`);
  }
  const { jwkCurve, bits, coordinateBytes } = CURVES[expected];
  const point = reader.readString();
  if (point.length !== 1 + 2 * coordinateBytes || point[0] !== 0x04) {
    fail(`ecdsa key must be an uncompressed point of ${1 + 2 * coordinateBytes} bytes`);
  }
  const x = point.subarray(1, 1 + coordinateBytes);
  const y = point.subarray(1 + coordinateBytes);
  const jwk: JsonWebKey = { kty: 'EC', crv: jwkCurve, x: base64url(x), y: base64url(y) };
  try {
    // OpenSSL checks that the coordinates are in range and the point lies on the curve.
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    fail('ecdsa key point is not on the curve');
  }
  return { bits, jwk };
}

function readRsaKey(reader: WireReader): KeyFields {
  const e = reader.readPositiveMpint();
  const n = reader.readPositiveMpint();
  const bits = bitLength(n);
  if (bits < MIN_RSA_BITS) fail(`RSA keys must have at least ${MIN_RSA_BITS} bits`);
  if (bits > MAX_RSA_BITS) fail(`RSA keys must have at most ${MAX_RSA_BITS} bits`);
  const eLast = e[e.length - 1] ?? 0;
  if ((eLast & 1) === 0 || bitLength(e) < 2) fail('RSA public exponent must be odd and at least 3');
  // A modulus is a product of odd primes; an even one is certainly not a real key.
  if (((n[n.length - 1] ?? 0) & 1) === 0) fail('RSA modulus is not valid');
  if (e.length > n.length) fail('RSA public exponent is larger than the modulus');
  const jwk: JsonWebKey = { kty: 'RSA', n: base64url(n), e: base64url(e) };
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    fail('RSA key is not valid');
  }
  return { bits, jwk };
}

/** FIDO keys carry the relying-party "application"; OpenSSH only ever enrols `ssh:` ones. */
function readApplication(reader: WireReader): void {
  const application = reader.readString();
  if (application.subarray(0, 4).toString('latin1') !== 'ssh:') {
    fail('security key application must start with "ssh:"');
  }
}

/** Decodes the blob, checks it against the expected type, and returns what its fields say. */
function checkBlob(type: SshKeyType, blob: Buffer): KeyFields {
  const reader = blobReader(blob);
  const blobType = reader.readString();
  if (blobType.toString('latin1') !== type) {
    fail(`key type in the blob (${describeName(blobType)}) does not match the line (${type})`);
  }
  const fields = readKeyFields(type, reader);
  if (!reader.atEnd()) fail('unexpected data after the key');
  return fields;
}

/**
 * Reads and validates the fields of a `type` key that follow its type string. Certificates carry
 * the same fields after their nonce, so they are read with this too.
 */
export function readKeyFields(type: SshKeyType, reader: WireReader): KeyFields {
  switch (type) {
    case 'ssh-ed25519':
      return { bits: 256, jwk: readEd25519Key(reader) };
    case 'sk-ssh-ed25519@openssh.com':
      readEd25519Key(reader);
      readApplication(reader);
      return { bits: 256, jwk: undefined };
    case 'ecdsa-sha2-nistp256':
      return readEcdsaKey(reader, 'nistp256', type);
    case 'ecdsa-sha2-nistp384':
      return readEcdsaKey(reader, 'nistp384', type);
    case 'ecdsa-sha2-nistp521':
      return readEcdsaKey(reader, 'nistp521', type);
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const { bits } = readEcdsaKey(reader, 'nistp256', type);
      readApplication(reader);
      return { bits, jwk: undefined };
    }
    case 'ssh-rsa':
      return readRsaKey(reader);
  }
}

export interface ParsedKeyBlob extends KeyFields {
  type: SshKeyType;
  blob: Buffer;
  fingerprint: string;
}

/** Parses and validates a key in its wire form alone (as certificates and KRLs carry CA keys). */
export function parseKeyBlob(blob: Buffer): ParsedKeyBlob {
  const typeName = blobReader(blob).readString().toString('latin1');
  if (!isKeyType(typeName)) fail(`unsupported key type: ${describeName(Buffer.from(typeName, 'latin1'))}`);
  return { type: typeName, blob, fingerprint: fingerprintOf(blob), ...checkBlob(typeName, blob) };
}

/** The Node public key of a parsed plain key, to verify its signatures. */
export function publicKeyObject(key: KeyFields): KeyObject {
  if (key.jwk === undefined) fail('security keys cannot be used here');
  return createPublicKey({ key: key.jwk, format: 'jwk' });
}

// ---------------------------------------------------------------------------------------------

/** Parses and validates one OpenSSH public key line; throws SshKeyError with a client-facing reason. */
export function parsePublicKey(line: string): ParsedKey {
  if (typeof line !== 'string') fail('key must be a string');
  checkRawText(line);
  const { type, base64, comment } = splitLine(line);
  const blob = decodeBase64(base64);
  const { bits } = checkBlob(type, blob);
  return {
    type,
    blob,
    base64,
    comment,
    fingerprint: fingerprintOf(blob),
    bits,
    line: comment === '' ? `${type} ${base64}` : `${type} ${base64} ${comment}`,
  };
}
