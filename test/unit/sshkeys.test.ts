// Tests for lib/sshkeys.ts against real keys made by ssh-keygen, whose `-lf` output is the
// reference for fingerprints and sizes. Keys ssh-keygen cannot make (sk-*, broken ones) are
// built here from real blobs in the SSH wire format.
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KEY_LENGTH, SshKeyError, fingerprintOf, parsePublicKey, type ParsedKey } from '../../lib/sshkeys.js';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';

// ---------------------------------------------------------------------------------------------
// Wire-format helpers (RFC 4251)

const sshString = (data: Buffer | string): Buffer => {
  const bytes = Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

/** A positive mpint from its big-endian magnitude: a zero byte in front when the top bit is set. */
const sshMpint = (magnitude: Buffer): Buffer => {
  const top = magnitude[0] ?? 0;
  return sshString(top >= 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);
};

const blobOf = (...fields: Buffer[]): Buffer => Buffer.concat(fields);
const lineOf = (type: string, blob: Buffer, comment = ''): string =>
  `${type} ${blob.toString('base64')}${comment === '' ? '' : ` ${comment}`}`;

/** The fields of a blob after its type string. */
const bodyOf = (key: ParsedKey): Buffer => key.blob.subarray(4 + key.type.length);

const rsaBlob = (e: Buffer, n: Buffer): Buffer => blobOf(sshString('ssh-rsa'), sshMpint(e), sshMpint(n));

const rsaNumbersFromCrypto = (modulusLength: number): { e: Buffer; n: Buffer } => {
  // Encoded by the generation, then read back: exporting its own KeyObject can deadlock (lib/sshca.ts, generateCaKey).
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  const jwk = createPublicKey({ key: publicKey, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return { e: Buffer.from(jwk.e ?? '', 'base64url'), n: Buffer.from(jwk.n ?? '', 'base64url') };
};

const expectRejected = (line: string, reason: RegExp): void => {
  let error: unknown;
  try {
    parsePublicKey(line);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(SshKeyError);
  expect((error as Error).message).toMatch(reason);
};

// ---------------------------------------------------------------------------------------------
// Real keys from ssh-keygen

interface RealKey {
  file: string;
  line: string;
  /** `ssh-keygen -lf` output: bits, fingerprint. */
  keygenBits: number;
  keygenFingerprint: string;
}

let dir = '';
const real: Record<string, RealKey> = {};

const keygenList = (file: string): { bits: number; fingerprint: string } => {
  const [bits, fingerprint] = execFileSync(SSH_KEYGEN, ['-lf', file], { encoding: 'utf8' }).trim().split(/\s+/);
  return { bits: Number(bits), fingerprint: fingerprint ?? '' };
};

/** Runs ssh-keygen to make a key; returns the public key file, or undefined if it refused. */
const keygen = (name: string, args: string[]): string | undefined => {
  const file = join(dir, name);
  try {
    execFileSync(SSH_KEYGEN, [...args, '-N', '', '-C', 'comment', '-q', '-f', file], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  return `${file}.pub`;
};

const writePub = (name: string, line: string): string => {
  const file = join(dir, `${name}.pub`);
  writeFileSync(file, `${line}\n`);
  return file;
};

const addReal = (name: string, file: string): void => {
  const { bits, fingerprint } = keygenList(file);
  real[name] = { file, line: readFileSync(file, 'utf8').trim(), keygenBits: bits, keygenFingerprint: fingerprint };
};

const REAL_KEYS: Record<string, string[]> = {
  ed25519: ['-t', 'ed25519'],
  ecdsa256: ['-t', 'ecdsa', '-b', '256'],
  ecdsa384: ['-t', 'ecdsa', '-b', '384'],
  ecdsa521: ['-t', 'ecdsa', '-b', '521'],
  rsa2048: ['-t', 'rsa', '-b', '2048'],
  rsa3072: ['-t', 'rsa', '-b', '3072'],
};

const key = (name: string): RealKey => {
  const found = real[name];
  if (found === undefined) throw new Error(`no test key ${name}`);
  return found;
};
const parsed = (name: string): ParsedKey => parsePublicKey(key(name).line);

/** sk-* keys: a real key's fields under the sk type name, plus the FIDO application string. */
const skLine = (fromName: string, skType: string, application = 'ssh:'): string =>
  lineOf(skType, blobOf(sshString(skType), bodyOf(parsed(fromName)), sshString(application)), 'sk');

let dssLine = '';
let rsa1024Line = '';

beforeAll(() => {
  expect(existsSync(SSH_KEYGEN)).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'sshkeys-test-'));
  for (const [name, args] of Object.entries(REAL_KEYS)) {
    const file = keygen(name, args);
    if (file === undefined) throw new Error(`ssh-keygen could not make ${name}`);
    addReal(name, file);
  }
  // ssh-keygen -lf reads sk public keys from a file without any hardware (checked on OpenSSH 9.2).
  addReal('skEd25519', writePub('sk-ed25519', skLine('ed25519', 'sk-ssh-ed25519@openssh.com')));
  addReal('skEcdsa', writePub('sk-ecdsa', skLine('ecdsa256', 'sk-ecdsa-sha2-nistp256@openssh.com')));

  // OpenSSH 10 dropped DSA entirely; then a hand-made blob stands in (only the label matters).
  const dss = keygen('dss', ['-t', 'dsa']);
  dssLine = dss !== undefined
    ? readFileSync(dss, 'utf8').trim()
    : lineOf('ssh-dss', blobOf(sshString('ssh-dss'), ...[1, 2, 3, 4].map((v) => sshMpint(Buffer.from([v])))));

  // Newer OpenSSH refuses RSA below 1024/2048 bits; then crypto makes the numbers.
  const rsa1024 = keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
  if (rsa1024 !== undefined) {
    rsa1024Line = readFileSync(rsa1024, 'utf8').trim();
  } else {
    const { e, n } = rsaNumbersFromCrypto(1024);
    rsa1024Line = lineOf('ssh-rsa', rsaBlob(e, n));
  }
}, 60_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('parsePublicKey on real keys', () => {
  const cases: [name: string, type: string, bits: number][] = [
    ['ed25519', 'ssh-ed25519', 256],
    ['ecdsa256', 'ecdsa-sha2-nistp256', 256],
    ['ecdsa384', 'ecdsa-sha2-nistp384', 384],
    ['ecdsa521', 'ecdsa-sha2-nistp521', 521],
    ['rsa2048', 'ssh-rsa', 2048],
    ['rsa3072', 'ssh-rsa', 3072],
    ['skEd25519', 'sk-ssh-ed25519@openssh.com', 256],
    ['skEcdsa', 'sk-ecdsa-sha2-nistp256@openssh.com', 256],
  ];

  it.each(cases)('%s: type, bits and fingerprint agree with ssh-keygen -lf', (name, type, bits) => {
    const { line, keygenBits, keygenFingerprint } = key(name);
    const result = parsePublicKey(line);
    expect(result.type).toBe(type);
    expect(result.bits).toBe(bits);
    expect(result.bits).toBe(keygenBits);
    expect(result.fingerprint).toBe(keygenFingerprint);
    expect(fingerprintOf(result.blob)).toBe(keygenFingerprint);
    expect(result.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(result.line).toBe(line);
    expect(result.comment).toBe(name.startsWith('sk') ? 'sk' : 'comment');
    expect(result.blob.toString('base64')).toBe(result.base64);
  });

  it('accepts a key without a comment', () => {
    const [type, base64] = key('ed25519').line.split(' ');
    const result = parsePublicKey(`${type} ${base64}`);
    expect(result.comment).toBe('');
    expect(result.line).toBe(`${type} ${base64}`);
  });

  it('normalises whitespace between fields and keeps the comment (inner spacing included)', () => {
    const [type, base64] = key('ed25519').line.split(' ');
    const result = parsePublicKey(`  \t${type} \t  ${base64}\t  alice@laptop  work key \t `);
    expect(result.comment).toBe('alice@laptop  work key');
    expect(result.line).toBe(`${type} ${base64} alice@laptop  work key`);
  });

  it('treats a second base64 token after the key as part of the comment', () => {
    const [type, base64] = key('ed25519').line.split(' ');
    const result = parsePublicKey(`${type} ${base64} ${key('rsa2048').line.split(' ')[1]}`);
    expect(result.comment).toMatch(/^AAAAB3NzaC1yc2E/);
  });

  it('accepts printable UTF-8 in the comment', () => {
    const [type, base64] = key('ed25519').line.split(' ');
    expect(parsePublicKey(`${type} ${base64} Jürgen's Schlüssel 🔑`).comment).toBe("Jürgen's Schlüssel 🔑");
  });
});

describe('parsePublicKey: refused types and options', () => {
  it('refuses ssh-dss', () => expectRejected(dssLine, /ssh-dss keys are not accepted/));

  it('refuses RSA below 2048 bits', () => expectRejected(rsa1024Line, /RSA keys must have at least 2048 bits/));

  it('refuses an RSA modulus of 2047 bits (crypto-made)', () => {
    const { e, n } = rsaNumbersFromCrypto(2047);
    expectRejected(lineOf('ssh-rsa', rsaBlob(e, n)), /at least 2048 bits/);
  });

  it('refuses an unknown key type', () => {
    expectRejected('ssh-foo AAAAB3NzaC1yc2E', /unsupported key type: ssh-foo/);
    // Certificates are not keys we store.
    expectRejected(`ssh-ed25519-cert-v01@openssh.com ${key('ed25519').line.split(' ')[1]}`, /unsupported key type/);
  });

  it.each([
    'command="x" ',
    'from="*" ',
    'no-pty,',
    'no-pty ',
    'restrict,command="echo hi there" ',
    'environment="A=b" ',
  ])('refuses an options prefix: %s', (prefix) => {
    expectRejected(`${prefix}${key('ed25519').line}`, /key options such as command= are not allowed/);
  });

  it('refuses options in front of an ssh-dss key as options', () => {
    expectRejected(`no-pty ${dssLine}`, /key options/);
  });
});

describe('parsePublicKey: the text line', () => {
  it('refuses the empty string and blanks', () => {
    expectRejected('', /key is empty/);
    expectRejected(' \t ', /key is empty/);
  });

  it('refuses a type alone', () => {
    expectRejected('ssh-ed25519', /key data is missing/);
    expectRejected('ssh-ed25519   ', /key data is missing/);
  });

  it('refuses a line break, even a trailing one', () => {
    const { line } = key('ed25519');
    expectRejected(`${line}\n`, /key must be a single line/);
    expectRejected(`${line}\n${key('rsa2048').line}`, /single line/);
    expectRejected(`${line}\r`, /single line/);
    expectRejected(`${line}\r\n`, /single line/);
    expectRejected(`${line} a\u2028b`, /single line/);
  });

  it('refuses NUL and other control characters', () => {
    const { line } = key('ed25519');
    expectRejected(`${line}\0`, /key contains control characters/);
    expectRejected(`${line} evil\0comment`, /control characters/);
    expectRejected(`${line} bell\x07`, /control characters/);
    expectRejected(`${line} esc\x1b[31m`, /control characters/);
    expectRejected(`${line} del\x7f`, /control characters/);
    expectRejected(`${line} c1\x9b`, /control characters/);
  });

  it('refuses input larger than 16 KB, before anything else', () => {
    expectRejected(`ssh-ed25519 ${'A'.repeat(MAX_KEY_LENGTH)}`, /key is larger than 16 KB/);
    // Size wins over every other fault, so a huge body is never scanned further.
    expectRejected(`\n${'\0'.repeat(MAX_KEY_LENGTH + 1)}`, /larger than 16 KB/);
    // Counted in UTF-8 bytes: 6000 three-byte characters are 18000 bytes.
    expectRejected(`${key('ed25519').line} ${'€'.repeat(6000)}`, /larger than 16 KB/);
  });

  it('refuses an over-long comment', () => {
    expectRejected(`${key('ed25519').line} ${'x'.repeat(2000)}`, /comment is longer than 1024 bytes/);
  });

  it('refuses a lone surrogate', () => {
    expectRejected(`${key('ed25519').line} \ud800`, /not valid UTF-8/);
  });
});

describe('parsePublicKey: base64', () => {
  it('refuses characters outside the standard alphabet', () => {
    const base64 = key('ed25519').line.split(' ')[1] ?? '';
    expectRejected(`ssh-ed25519 ${base64.slice(0, 20)}*${base64.slice(21)}`, /key is not valid base64/);
    expectRejected(`ssh-ed25519 ${base64.replace(/\+|\//g, '-')}x`, /not valid base64/);
    expectRejected('ssh-ed25519 AAAA-_AA', /not valid base64/);
  });

  it('refuses wrong padding', () => {
    // An ecdsa-256 blob is 104 bytes: its base64 ends in exactly one '='.
    const base64 = key('ecdsa256').line.split(' ')[1] ?? '';
    expect(base64).toMatch(/[^=]=$/);
    expectRejected(`ecdsa-sha2-nistp256 ${base64.slice(0, -1)}`, /not valid base64/);
    expectRejected(`ecdsa-sha2-nistp256 ${base64}=`, /not valid base64/);
    expectRejected(`ecdsa-sha2-nistp256 ${base64}==`, /not valid base64/);
    expectRejected(`ssh-ed25519 ${key('ed25519').line.split(' ')[1]}=`, /not valid base64/);
    expectRejected('ssh-ed25519 ====', /not valid base64/);
  });

  it('refuses non-canonical base64 (non-zero bits in the padding)', () => {
    const base64 = key('ecdsa256').line.split(' ')[1] ?? '';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(base64.charAt(base64.length - 2));
    const tweaked = `${base64.slice(0, -2)}${alphabet.charAt(last | 1)}=`;
    // Node decodes it to the very same bytes, which is why the re-encoding check exists.
    expect(Buffer.from(tweaked, 'base64')).toEqual(Buffer.from(base64, 'base64'));
    expectRejected(`ecdsa-sha2-nistp256 ${tweaked}`, /not valid base64/);
  });
});

describe('parsePublicKey: the wire blob', () => {
  it('refuses a truncated blob', () => {
    const { blob } = parsed('ed25519');
    expectRejected(lineOf('ssh-ed25519', blob.subarray(0, blob.length - 12)), /key blob is truncated/);
    expectRejected(lineOf('ssh-ed25519', blob.subarray(0, 2)), /truncated/);
    // A length prefix pointing far past the end.
    const huge = Buffer.from(blob);
    huge.writeUInt32BE(0xffffffff, 4 + 'ssh-ed25519'.length);
    expectRejected(lineOf('ssh-ed25519', huge), /truncated/);
    const { blob: rsa } = parsed('rsa2048');
    expectRejected(lineOf('ssh-rsa', rsa.subarray(0, rsa.length - 1)), /truncated/);
  });

  it('refuses a blob whose type differs from the line', () => {
    expectRejected(
      lineOf('ssh-rsa', parsed('ed25519').blob),
      /key type in the blob \(ssh-ed25519\) does not match the line \(ssh-rsa\)/,
    );
    expectRejected(
      lineOf('ssh-ed25519', parsed('rsa2048').blob),
      /key type in the blob \(ssh-rsa\) does not match the line \(ssh-ed25519\)/,
    );
    // An sk blob is not a plain key, nor the other way round.
    expectRejected(lineOf('ssh-ed25519', parsed('skEd25519').blob), /does not match the line/);
  });

  it('refuses trailing bytes inside the blob', () => {
    for (const name of ['ed25519', 'ecdsa384', 'rsa2048', 'skEd25519', 'skEcdsa']) {
      const { type, blob } = parsed(name);
      expectRejected(lineOf(type, Buffer.concat([blob, Buffer.from([0, 0, 0, 0])])), /unexpected data after the key/);
    }
  });

  it('refuses an ed25519 key of the wrong size', () => {
    const blob = blobOf(sshString('ssh-ed25519'), sshString(Buffer.alloc(31, 7)));
    expectRejected(lineOf('ssh-ed25519', blob), /ed25519 key must be 32 bytes/);
  });

  it('refuses an ecdsa curve name that does not match the type (nistp384 blob labelled nistp256)', () => {
    const relabelled = blobOf(sshString('ecdsa-sha2-nistp256'), bodyOf(parsed('ecdsa384')));
    expectRejected(
      lineOf('ecdsa-sha2-nistp256', relabelled),
      /key curve \(nistp384\) does not match the key type \(ecdsa-sha2-nistp256\)/,
    );
  });

  it('refuses an ecdsa point that is not on the curve', () => {
    const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([1])]);
    const blob = blobOf(sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point));
    expectRejected(lineOf('ecdsa-sha2-nistp256', blob), /ecdsa key point is not on the curve/);
    // A real key with one bit of y flipped.
    const flipped = Buffer.from(parsed('ecdsa521').blob);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    expectRejected(lineOf('ecdsa-sha2-nistp521', flipped), /not on the curve/);
    // The same for the sk variant: the point sits before the application string.
    const sk = Buffer.from(parsed('skEcdsa').blob);
    sk[sk.length - 4 - 4 - 1] = (sk[sk.length - 4 - 4 - 1] ?? 0) ^ 1;
    expectRejected(lineOf('sk-ecdsa-sha2-nistp256@openssh.com', sk), /not on the curve/);
  });

  it('refuses a compressed or wrongly sized ecdsa point', () => {
    const real256 = bodyOf(parsed('ecdsa256'));
    const x = real256.subarray(4 + 8 + 4 + 1, 4 + 8 + 4 + 33);
    const compressed = blobOf(sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(Buffer.concat([Buffer.from([2]), x])));
    expectRejected(lineOf('ecdsa-sha2-nistp256', compressed), /uncompressed point of 65 bytes/);
  });

  it('refuses RSA exponents that are even or below 3', () => {
    const { n } = rsaNumbersFromCrypto(2048);
    expectRejected(lineOf('ssh-rsa', rsaBlob(Buffer.from([2]), n)), /odd and at least 3/);
    expectRejected(lineOf('ssh-rsa', rsaBlob(Buffer.from([1]), n)), /odd and at least 3/);
    expectRejected(lineOf('ssh-rsa', rsaBlob(Buffer.from([0x01, 0x00, 0x00]), n)), /odd and at least 3/);
  });

  it('refuses malformed RSA numbers', () => {
    const { e, n } = rsaNumbersFromCrypto(2048);
    const withType = (...fields: Buffer[]): string => lineOf('ssh-rsa', blobOf(sshString('ssh-rsa'), ...fields));
    // Top bit set without the sign byte: a negative modulus.
    expectRejected(withType(sshMpint(e), sshString(n)), /negative number/);
    // A superfluous leading zero.
    expectRejected(withType(sshString(Buffer.concat([Buffer.from([0]), e])), sshMpint(n)), /malformed number/);
    expectRejected(withType(sshString(Buffer.alloc(0)), sshMpint(n)), /zero-length number/);
    // An even modulus cannot be a product of two odd primes.
    const even = Buffer.from(n);
    even[even.length - 1] = (even[even.length - 1] ?? 0) & 0xfe;
    expectRejected(withType(sshMpint(e), sshMpint(even)), /modulus is not valid/);
  });

  it('refuses RSA moduli above 16384 bits', () => {
    const n = Buffer.alloc(16384 / 8 + 1, 0xff);
    n[0] = 1;
    expectRejected(lineOf('ssh-rsa', rsaBlob(Buffer.from([1, 0, 1]), n)), /at most 16384 bits/);
  });

  it('refuses an sk key whose application does not start with "ssh:"', () => {
    expectRejected(skLine('ed25519', 'sk-ssh-ed25519@openssh.com', 'https://example.com'), /application must start with "ssh:"/);
    expectRejected(skLine('ecdsa256', 'sk-ecdsa-sha2-nistp256@openssh.com', ''), /application must start with "ssh:"/);
    // sk types without the application string at all.
    expectRejected(lineOf('sk-ssh-ed25519@openssh.com', blobOf(sshString('sk-ssh-ed25519@openssh.com'), bodyOf(parsed('ed25519')))), /truncated/);
  });

  it('accepts an sk application with more after "ssh:"', () => {
    expect(parsePublicKey(skLine('ed25519', 'sk-ssh-ed25519@openssh.com', 'ssh:work')).bits).toBe(256);
  });
});

describe('fingerprintOf', () => {
  it('is unpadded base64 of SHA-256 of the blob', () => {
    // SHA-256 of the empty string, a known value.
    expect(fingerprintOf(Buffer.alloc(0))).toBe('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU');
  });
});
