// The certificate authorities' keys: making one, reading and writing it as `ssh-keygen` does
// (the unencrypted `openssh-key-v1` format, PROTOCOL.key), its public key line, and SSH signatures
// made and checked with it (RFC 8709 Ed25519, RFC 5656 ECDSA, RFC 8332 rsa-sha2-512).
// Private keys stay in Node KeyObjects, which print no key material when logged by mistake.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { decodeBase64, fingerprintOf, parseKeyBlob, publicKeyObject, type ParsedKeyBlob } from './sshkeys.js';
import { WireReader, WireWriter } from './sshwire.js';

export type CaKeyType =
  | 'ssh-ed25519'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'ssh-rsa';

export interface CaKey {
  type: CaKeyType;
  privateKey: KeyObject;
  /** The public key in SSH wire form: how certificates and KRLs name their CA. */
  blob: Buffer;
  /** `SHA256:...` of the public key, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  comment: string;
}

/** A CA key that cannot be used; the message names the problem, never key material. */
export class CaKeyError extends Error {
  override name = 'CaKeyError';
}

function fail(message: string): never {
  throw new CaKeyError(message);
}

type EcdsaType = Exclude<CaKeyType, 'ssh-ed25519' | 'ssh-rsa'>;

interface EcdsaInfo {
  curve: string;
  crv: string;
  namedCurve: string;
  coordinateBytes: number;
  /** RFC 5656 section 6.2.1: the hash goes with the curve size. */
  hash: string;
}

const ECDSA: Readonly<Record<EcdsaType, EcdsaInfo>> = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', crv: 'P-256', namedCurve: 'prime256v1', coordinateBytes: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', crv: 'P-384', namedCurve: 'secp384r1', coordinateBytes: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', crv: 'P-521', namedCurve: 'secp521r1', coordinateBytes: 66, hash: 'sha512' },
};

const isEcdsa = (type: string): type is EcdsaType => Object.hasOwn(ECDSA, type);

const ecdsaTypeOfCrv = (crv: string | undefined): EcdsaType | undefined =>
  (Object.keys(ECDSA) as EcdsaType[]).find((type) => ECDSA[type].crv === crv);

/** OpenSSH's default RSA size, and the least this project accepts anywhere. */
const RSA_GENERATED_BITS = 3072;

const fromB64url = (text: string | undefined): Buffer => Buffer.from(text ?? '', 'base64url');

/** A big-endian number left-padded with zeros to `length` bytes (JWK wants fixed sizes for EC). */
const padded = (bytes: Buffer, length: number): Buffer =>
  bytes.length >= length ? bytes : Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);

const bigintOf = (bytes: Buffer): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`));

const bytesOf = (value: bigint): Buffer => {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
};

// ---------------------------------------------------------------------------------------------
// Public keys

function typeOfKey(key: KeyObject): { type: CaKeyType; jwk: JsonWebKey } {
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'ed25519') return { type: 'ssh-ed25519', jwk };
  if (key.asymmetricKeyType === 'rsa') return { type: 'ssh-rsa', jwk };
  const ecdsa = key.asymmetricKeyType === 'ec' ? ecdsaTypeOfCrv(jwk.crv) : undefined;
  if (ecdsa !== undefined) return { type: ecdsa, jwk };
  return fail('a CA key must be Ed25519, ECDSA (P-256, P-384, P-521) or RSA');
}

/** The SSH wire form of a public key (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4). */
function publicBlobOf(type: CaKeyType, jwk: JsonWebKey): Buffer {
  const writer = new WireWriter().string(type);
  if (type === 'ssh-ed25519') return writer.string(fromB64url(jwk.x)).toBuffer();
  if (type === 'ssh-rsa') return writer.mpint(fromB64url(jwk.e)).mpint(fromB64url(jwk.n)).toBuffer();
  const { curve, coordinateBytes } = ECDSA[type];
  const point = Buffer.concat([
    Buffer.from([0x04]),
    padded(fromB64url(jwk.x), coordinateBytes),
    padded(fromB64url(jwk.y), coordinateBytes),
  ]);
  return writer.string(curve).string(point).toBuffer();
}

/** A CA from a Node private key; its public key is checked like any key the service accepts. */
export function caKeyFromPrivateKey(privateKey: KeyObject, comment = ''): CaKey {
  if (privateKey.type !== 'private') fail('a CA key must be a private key');
  const { type, jwk } = typeOfKey(privateKey);
  const blob = publicBlobOf(type, jwk);
  try {
    parseKeyBlob(blob);
  } catch (error) {
    fail(`the CA public key is not acceptable: ${(error as Error).message}`);
  }
  return { type, privateKey, blob, fingerprint: fingerprintOf(blob), comment };
}

/**
 * A new CA key: Ed25519 unless asked otherwise. The key comes out of the generation encoded and is
 * read back as a key of its own: a KeyObject straight from generateKeyPairSync shares a lock with
 * the generation job, and when garbage collection ends that job during the key's export (as
 * caKeyFromPrivateKey does), Node 20 deadlocks (seen as a test run hanging, in ~KeyGenJob).
 */
export function generateCaKey(type: CaKeyType = 'ssh-ed25519', comment = ''): CaKey {
  const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;
  const { privateKey } =
    type === 'ssh-ed25519'
      ? generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding })
      : type === 'ssh-rsa'
        ? generateKeyPairSync('rsa', { modulusLength: RSA_GENERATED_BITS, publicKeyEncoding, privateKeyEncoding })
        : generateKeyPairSync('ec', { namedCurve: ECDSA[type].namedCurve, publicKeyEncoding, privateKeyEncoding });
  return caKeyFromPrivateKey(createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }), comment);
}

/** The CA's public key line, as in `TrustedUserCAKeys` or after `@cert-authority`. */
export function caPublicLine(ca: CaKey, comment = ca.comment): string {
  const line = `${ca.type} ${ca.blob.toString('base64')}`;
  return comment === '' ? line : `${line} ${comment}`;
}

// ---------------------------------------------------------------------------------------------
// Signatures (the SSH encoding: string algorithm, string signature)

/** Signs `data` with the CA as OpenSSH does; RSA CAs sign with rsa-sha2-512. */
export function signWithCa(ca: CaKey, data: Buffer): Buffer {
  const writer = new WireWriter();
  if (ca.type === 'ssh-ed25519') return writer.string('ssh-ed25519').string(sign(null, data, ca.privateKey)).toBuffer();
  if (ca.type === 'ssh-rsa') return writer.string('rsa-sha2-512').string(sign('sha512', data, ca.privateKey)).toBuffer();
  // Node gives r || s at fixed width; SSH wants them as two mpints (RFC 5656 3.1.2), not DER.
  const { hash, coordinateBytes } = ECDSA[ca.type];
  const raw = sign(hash, data, { key: ca.privateKey, dsaEncoding: 'ieee-p1363' });
  const rs = new WireWriter().mpint(raw.subarray(0, coordinateBytes)).mpint(raw.subarray(coordinateBytes)).toBuffer();
  return writer.string(ca.type).string(rs).toBuffer();
}

const RSA_SIGNATURE_HASHES: Readonly<Record<string, string>> = { 'rsa-sha2-512': 'sha512', 'rsa-sha2-256': 'sha256' };

/**
 * Checks an SSH signature by `key` over `data`. SHA-1 RSA signatures (`ssh-rsa`) are refused, as
 * sshd's default CASignatureAlgorithms does. A malformed signature is simply not valid.
 */
export function verifySignature(key: ParsedKeyBlob, signature: Buffer, data: Buffer): boolean {
  const invalid = (): never => {
    throw new CaKeyError('invalid signature');
  };
  try {
    const reader = new WireReader(signature, invalid);
    const algorithm = reader.readString().toString('latin1');
    const body = reader.readString();
    if (!reader.atEnd()) return false;
    const publicKey = publicKeyObject(key);
    if (key.type === 'ssh-ed25519') {
      return algorithm === 'ssh-ed25519' && body.length === 64 && verify(null, data, publicKey, body);
    }
    if (key.type === 'ssh-rsa') {
      const hash = RSA_SIGNATURE_HASHES[algorithm];
      const modulusBytes = Math.ceil(key.bits / 8);
      // OpenSSH accepts a signature shorter than the modulus and pads it, so do we.
      return hash !== undefined && body.length <= modulusBytes && verify(hash, data, publicKey, padded(body, modulusBytes));
    }
    if (isEcdsa(key.type) && algorithm === key.type) {
      const { hash, coordinateBytes } = ECDSA[key.type];
      const numbers = new WireReader(body, invalid);
      const r = numbers.readPositiveMpint();
      const s = numbers.readPositiveMpint();
      if (!numbers.atEnd() || r.length > coordinateBytes || s.length > coordinateBytes) return false;
      const raw = Buffer.concat([padded(r, coordinateBytes), padded(s, coordinateBytes)]);
      return verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw);
    }
    return false;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The openssh-key-v1 private key file (PROTOCOL.key)

const AUTH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const ARMOR_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const ARMOR_END = '-----END OPENSSH PRIVATE KEY-----';
/** The cipher "none" pads to 8 bytes; ssh-keygen wraps base64 at 70 columns. */
const BLOCK_SIZE = 8;
const LINE_WIDTH = 70;

/** The private fields as OpenSSH's agent encoding lists them, after the key type. */
function writePrivateFields(writer: WireWriter, ca: CaKey): void {
  const jwk = ca.privateKey.export({ format: 'jwk' });
  if (ca.type === 'ssh-ed25519') {
    // OpenSSH's 64-byte secret key is the 32-byte seed followed by the public key.
    const pk = fromB64url(jwk.x);
    writer.string(pk).string(Buffer.concat([fromB64url(jwk.d), pk]));
  } else if (ca.type === 'ssh-rsa') {
    // n, e, d, iqmp (q^-1 mod p, which is JWK's qi), p, q.
    for (const field of [jwk.n, jwk.e, jwk.d, jwk.qi, jwk.p, jwk.q]) writer.mpint(fromB64url(field));
  } else {
    const reader = new WireReader(ca.blob, fail);
    reader.readString();
    writer.string(reader.readString()).string(reader.readString()).mpint(fromB64url(jwk.d));
  }
}

/**
 * The CA private key in the unencrypted openssh-key-v1 format, as `ssh-keygen -N ''` writes it.
 * `checkInt` is random unless given (tests use it to compare files byte for byte).
 */
export function writeCaPrivateKey(ca: CaKey, checkInt: number = randomBytes(4).readUInt32BE(0)): string {
  const section = new WireWriter().uint32(checkInt).uint32(checkInt).string(ca.type);
  writePrivateFields(section, ca);
  section.string(ca.comment);
  const unpadded = section.toBuffer();
  const padLength = (BLOCK_SIZE - (unpadded.length % BLOCK_SIZE)) % BLOCK_SIZE;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const file = new WireWriter()
    .raw(AUTH_MAGIC)
    .string('none')
    .string('none')
    .string('')
    .uint32(1)
    .string(ca.blob)
    .string(Buffer.concat([unpadded, padding]))
    .toBuffer()
    .toString('base64');
  const lines = file.match(new RegExp(`.{1,${LINE_WIDTH}}`, 'g')) ?? [];
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

function decodeArmor(text: string): Buffer {
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) fail('not an OpenSSH private key');
  try {
    return decodeBase64(text.slice(ARMOR_BEGIN.length, text.length - ARMOR_END.length).replace(/\s+/g, ''));
  } catch {
    return fail('the OpenSSH private key is not valid base64');
  }
}

/** Reads the private fields of `type` into a JWK for Node. */
function readPrivateJwk(type: CaKeyType, reader: WireReader): JsonWebKey {
  if (type === 'ssh-ed25519') {
    const pk = reader.readString();
    const sk = reader.readString();
    if (pk.length !== 32 || sk.length !== 64 || !sk.subarray(32).equals(pk)) fail('the Ed25519 private key is malformed');
    return { kty: 'OKP', crv: 'Ed25519', x: pk.toString('base64url'), d: sk.subarray(0, 32).toString('base64url') };
  }
  if (type === 'ssh-rsa') {
    const n = reader.readPositiveMpint();
    const e = reader.readPositiveMpint();
    const d = reader.readPositiveMpint();
    const iqmp = reader.readPositiveMpint();
    const p = reader.readPositiveMpint();
    const q = reader.readPositiveMpint();
    // JWK also wants the CRT exponents, which OpenSSH does not store.
    const dp = bytesOf(bigintOf(d) % (bigintOf(p) - 1n));
    const dq = bytesOf(bigintOf(d) % (bigintOf(q) - 1n));
    const b64 = (bytes: Buffer): string => bytes.toString('base64url');
    return { kty: 'RSA', n: b64(n), e: b64(e), d: b64(d), p: b64(p), q: b64(q), dp: b64(dp), dq: b64(dq), qi: b64(iqmp) };
  }
  const { curve, crv, coordinateBytes } = ECDSA[type];
  if (reader.readString().toString('latin1') !== curve) fail('the ECDSA private key names another curve');
  const point = reader.readString();
  const d = reader.readPositiveMpint();
  if (point.length !== 1 + 2 * coordinateBytes || point[0] !== 0x04 || d.length > coordinateBytes) {
    fail('the ECDSA private key is malformed');
  }
  const b64 = (bytes: Buffer): string => padded(bytes, coordinateBytes).toString('base64url');
  return {
    kty: 'EC',
    crv,
    x: b64(point.subarray(1, 1 + coordinateBytes)),
    y: b64(point.subarray(1 + coordinateBytes)),
    d: b64(d),
  };
}

const isCaKeyType = (type: string): type is CaKeyType => type === 'ssh-ed25519' || type === 'ssh-rsa' || isEcdsa(type);

/** Proves the private key belongs to the public key the file announces: sign, then verify. */
function checkPair(ca: CaKey, announced: Buffer): void {
  if (!ca.blob.equals(announced)) fail('the private key does not match the public key in the file');
  const probe = randomBytes(32);
  if (!verifySignature(parseKeyBlob(ca.blob), signWithCa(ca, probe), probe)) {
    fail('the private key does not match the public key in the file');
  }
}

function readOpenSshKey(text: string): CaKey {
  const reader = new WireReader(decodeArmor(text), fail, 'the OpenSSH private key');
  if (!reader.readBytes(AUTH_MAGIC.length).equals(AUTH_MAGIC)) fail('not an openssh-key-v1 private key');
  const cipher = reader.readText();
  const kdf = reader.readText();
  reader.readString();
  if (cipher !== 'none' || kdf !== 'none') {
    fail('the CA private key is encrypted: remove its passphrase first (ssh-keygen -p -N "" -f <file>)');
  }
  if (reader.readUint32() !== 1) fail('the OpenSSH private key file must hold exactly one key');
  const announced = reader.readString();
  const section = reader.readString();
  if (!reader.atEnd()) fail('unexpected data after the OpenSSH private key');
  if (section.length % BLOCK_SIZE !== 0) fail('the OpenSSH private key has a malformed private section');

  const inner = new WireReader(section, fail, 'the OpenSSH private key');
  // Equal check-ints are how OpenSSH tells a correct decryption; unencrypted, they catch corruption.
  if (inner.readUint32() !== inner.readUint32()) fail('the OpenSSH private key is corrupt (its check-ints differ)');
  const type = inner.readText();
  if (!isCaKeyType(type)) fail(`unsupported CA key type: ${type.slice(0, 64)}`);
  const jwk = readPrivateJwk(type, inner);
  const comment = inner.readText();
  const padding = inner.readBytes(inner.remaining);
  if (padding.length >= BLOCK_SIZE || padding.some((byte, i) => byte !== i + 1)) {
    fail('the OpenSSH private key has malformed padding');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    return fail('the OpenSSH private key holds an invalid key');
  }
  const ca = caKeyFromPrivateKey(privateKey, comment);
  checkPair(ca, announced);
  return ca;
}

/** PEM and PKCS#8 keys, which older ssh-keygen wrote (and `-m PEM` still does); Node reads them. */
function readPemKey(text: string): CaKey {
  if (/ENCRYPTED/.test(text)) fail('the CA private key is encrypted: remove its passphrase first');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    return fail('the PEM private key cannot be read');
  }
  const ca = caKeyFromPrivateKey(privateKey);
  checkPair(ca, ca.blob);
  return ca;
}

/**
 * Reads a CA private key file as ssh-keygen writes it: unencrypted openssh-key-v1 (the default
 * since OpenSSH 7.8), or the older unencrypted PEM. Encrypted keys are refused with a clear error.
 */
export function readCaPrivateKey(text: string): CaKey {
  const trimmed = text.trim();
  if (trimmed.startsWith(ARMOR_BEGIN)) return readOpenSshKey(trimmed);
  if (/^-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(trimmed)) return readPemKey(trimmed);
  return fail('not an OpenSSH private key');
}
