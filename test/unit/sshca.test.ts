// Tests for lib/sshca.ts against the real ssh-keygen: CA keys this code writes are read by
// `ssh-keygen -y`, and CA keys ssh-keygen makes are read here (and written back byte for byte).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inspect, promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaKeyError,
  caPublicLine,
  generateCaKey,
  readCaPrivateKey,
  signWithCa,
  verifySignature,
  writeCaPrivateKey,
  type CaKey,
} from '../../lib/sshca.js';
import { parseKeyBlob } from '../../lib/sshkeys.js';
import { WireWriter } from '../../lib/sshwire.js';
import { KEY_TYPES as CA_TYPES, Scratch, expectThrown, keygenArgs, keygenFingerprint, sshKeygen, sshKeygenOk } from '../sshkeygen.js';

const scratch = new Scratch();
afterAll(() => scratch.remove());

const KEYGEN_ARGS = keygenArgs(3072);

const ARMOR = /-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g;
const unarmor = (text: string): Buffer => Buffer.from(text.replace(ARMOR, '').replace(/\s/g, ''), 'base64');
const armor = (bytes: Buffer): string =>
  `-----BEGIN OPENSSH PRIVATE KEY-----\n${bytes.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;

/** Field offsets of an unencrypted openssh-key-v1 file (magic, 3 strings, count, public key, section). */
function layout(file: Buffer): { publicKey: number; section: number; checkInt: number } {
  let offset = 15;
  for (let i = 0; i < 3; i += 1) offset += 4 + file.readUInt32BE(offset);
  const publicKey = offset + 4;
  const section = publicKey + 4 + file.readUInt32BE(publicKey);
  return { publicKey, section, checkInt: file.readUInt32BE(section + 4) };
}

const expectRefused = (text: string, reason: RegExp): void => {
  expectThrown(() => readCaPrivateKey(text), CaKeyError, reason);
};

describe('CA keys written here, read by ssh-keygen', () => {
  it.each(CA_TYPES)('%s: ssh-keygen -y prints the same public key and -l the same fingerprint', (type) => {
    const ca = generateCaKey(type, 'keyper user CA');
    const file = scratch.write(`written-${type}`, writeCaPrivateKey(ca));
    expect(sshKeygenOk(['-y', '-f', file]).trim()).toBe(caPublicLine(ca));
    expect(caPublicLine(ca)).toMatch(new RegExp(`^${type} [A-Za-z0-9+/]+=* keyper user CA$`));
    expect(keygenFingerprint(file)).toBe(ca.fingerprint);
  });

  it('generates Ed25519 by default', () => {
    expect(generateCaKey().type).toBe('ssh-ed25519');
  });

  it('writes a CA without a comment, and the public line then has none', () => {
    const ca = generateCaKey('ssh-ed25519');
    const file = scratch.write('no-comment', writeCaPrivateKey(ca));
    expect(sshKeygenOk(['-y', '-f', file]).trim()).toBe(caPublicLine(ca));
    expect(caPublicLine(ca).split(' ')).toHaveLength(2);
  });

  it('reads back what it wrote, and signatures still verify', () => {
    for (const type of CA_TYPES) {
      const ca = generateCaKey(type, 'c');
      const back = readCaPrivateKey(writeCaPrivateKey(ca));
      expect(back.blob.equals(ca.blob)).toBe(true);
      expect(back.comment).toBe('c');
      const data = Buffer.from('data');
      expect(verifySignature(parseKeyBlob(ca.blob), signWithCa(back, data), data)).toBe(true);
    }
  });
});

describe('CA keys made by ssh-keygen, read here', () => {
  it.each(CA_TYPES)('%s: same public key and comment, written back byte for byte', (type) => {
    const made = scratch.keygen(KEYGEN_ARGS[type], 'Keyper CA');
    const ca = readCaPrivateKey(made.privateText);
    expect(ca.type).toBe(type);
    expect(ca.comment).toBe('Keyper CA');
    expect(caPublicLine(ca)).toBe(made.publicLine);
    expect(ca.fingerprint).toBe(keygenFingerprint(`${made.file}.pub`));
    // With ssh-keygen's random check-int, our writer reproduces its file exactly.
    const { checkInt } = layout(unarmor(made.privateText));
    expect(writeCaPrivateKey(ca, checkInt)).toBe(made.privateText);
  });

  it.each([
    ['RSA', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'ssh-rsa'],
    ['ECDSA', ['-t', 'ecdsa', '-b', '384', '-m', 'PEM'], 'ecdsa-sha2-nistp384'],
    ['PKCS8 ECDSA', ['-t', 'ecdsa', '-b', '256', '-m', 'PKCS8'], 'ecdsa-sha2-nistp256'],
  ])('reads an older %s PEM key (ssh-keygen -m)', (_name, args, type) => {
    const made = scratch.keygen(args);
    expect(made.privateText).not.toMatch(/OPENSSH/);
    const ca = readCaPrivateKey(made.privateText);
    expect(ca.type).toBe(type);
    expect(caPublicLine(ca, '')).toBe(made.publicLine.split(' ').slice(0, 2).join(' '));
  });
});

describe('CA key files refused', () => {
  it('refuses an encrypted key with a clear error', () => {
    const file = scratch.path('encrypted');
    sshKeygenOk(['-t', 'ed25519', '-q', '-N', 'secret passphrase', '-f', file]);
    // ssh-keygen itself reads it with the passphrase: the file is a real encrypted key.
    sshKeygenOk(['-y', '-P', 'secret passphrase', '-f', file]);
    expectRefused(readFileSync(file, 'utf8'), /encrypted/);
  });

  it('refuses an encrypted PEM key', () => {
    const file = scratch.path('encrypted-pem');
    sshKeygenOk(['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-q', '-N', 'secret passphrase', '-f', file]);
    expectRefused(readFileSync(file, 'utf8'), /encrypted/);
  });

  it('refuses a key whose check-ints differ (corruption)', () => {
    const made = scratch.keygen(['-t', 'ed25519']);
    const bytes = unarmor(made.privateText);
    const { section } = layout(bytes);
    const at = section + 4 + 4 + 3; // the last byte of the second check-int
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    expectRefused(armor(bytes), /check-ints differ/);
    // ssh-keygen agrees this file is not usable.
    expect(sshKeygen(['-y', '-P', '', '-f', scratch.write('corrupt', armor(bytes))]).status).not.toBe(0);
  });

  it('refuses a key whose announced public key is another key', () => {
    const made = scratch.keygen(['-t', 'ed25519']);
    const other = scratch.keygen(['-t', 'ed25519']);
    const bytes = unarmor(made.privateText);
    const { publicKey } = layout(bytes);
    const otherBlob = unarmor(other.privateText).subarray(layout(unarmor(other.privateText)).publicKey + 4);
    otherBlob.copy(bytes, publicKey + 4, 0, 51);
    expectRefused(armor(bytes), /does not match/);
  });

  it('refuses a private key that does not match its own public half', () => {
    const made = scratch.keygen(['-t', 'ecdsa', '-b', '256']);
    const bytes = unarmor(made.privateText);
    // The private scalar is the last mpint before the comment; change its last byte.
    const commentAt = bytes.lastIndexOf(Buffer.from('test key'));
    bytes.writeUInt8(bytes.readUInt8(commentAt - 5) ^ 0x01, commentAt - 5);
    expectRefused(armor(bytes), /does not match|invalid key/);
  });

  it('refuses wrong padding', () => {
    const ca = generateCaKey('ssh-ed25519', 'x');
    const bytes = unarmor(writeCaPrivateKey(ca));
    const last = bytes.length - 1;
    expect(bytes[last]).toBeGreaterThan(0); // there is padding to break
    bytes[last] = 0x09;
    expectRefused(armor(bytes), /padding/);
  });

  it('refuses other files with a clear error', () => {
    expectRefused('', /not an OpenSSH private key/);
    expectRefused(scratch.keygen(['-t', 'ed25519']).publicLine, /not an OpenSSH private key/);
    expectRefused('-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n-----END OPENSSH PRIVATE KEY-----', /base64/);
    expectRefused(armor(Buffer.from('openssh-key-v2\0')), /not an openssh-key-v1/);
    expectRefused(armor(Buffer.from('openssh-key-v1\0')), /truncated/);
  });

  it('refuses a DSA key, which cannot be a CA here', () => {
    const made = scratch.keygen(['-t', 'dsa']);
    expectRefused(made.privateText, /unsupported CA key type: ssh-dss/);
  });

  it('refuses a file with two keys', () => {
    const ca = generateCaKey();
    const bytes = unarmor(writeCaPrivateKey(ca));
    const { publicKey } = layout(bytes);
    bytes.writeUInt32BE(2, publicKey - 4);
    expectRefused(armor(bytes), /exactly one key/);
  });

  it('refuses an RSA CA below 2048 bits', () => {
    const made = scratch.keygen(['-t', 'rsa', '-b', '1024']);
    expectRefused(made.privateText, /at least 2048 bits/);
  });
});

describe('private key material stays out of logs', () => {
  it('neither inspect nor JSON shows the private key', () => {
    const ca: CaKey = generateCaKey('ssh-ed25519');
    const secret = ca.privateKey.export({ format: 'jwk' }).d ?? '';
    expect(secret).not.toBe('');
    const secretBase64 = Buffer.from(secret, 'base64url').toString('base64');
    for (const shown of [inspect(ca, { depth: 10 }), JSON.stringify(ca)]) {
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(secretBase64);
    }
  });
});

describe('signatures', () => {
  it('refuses a signature by another key, over other data, or with another algorithm name', () => {
    const ca = generateCaKey('ssh-rsa');
    const key = parseKeyBlob(ca.blob);
    const data = Buffer.from('to be signed');
    const signature = signWithCa(ca, data);
    expect(verifySignature(key, signature, data)).toBe(true);
    expect(verifySignature(key, signature, Buffer.from('other data'))).toBe(false);
    expect(verifySignature(parseKeyBlob(generateCaKey('ssh-rsa').blob), signature, data)).toBe(false);
    // The same RSA bytes labelled as SHA-1 ssh-rsa or as SHA-256 do not verify.
    const body = signature.subarray(4 + 'rsa-sha2-512'.length);
    for (const name of ['ssh-rsa', 'rsa-sha2-256']) {
      expect(verifySignature(key, Buffer.concat([new WireWriter().string(name).toBuffer(), body]), data)).toBe(false);
    }
    expect(verifySignature(key, Buffer.alloc(3), data)).toBe(false);
  });
});

describe('making many keys', () => {
  // Exporting a KeyObject straight from generateKeyPairSync deadlocks Node 20 when garbage
  // collection ends the generation job meanwhile (a whole test run once hung in ~KeyGenJob, about
  // every 14,000 keys). In a child process, so that a deadlock fails this test instead of hanging it.
  it('never hangs: CA keys and fixture key lines, tens of thousands in a row', async () => {
    const script = `
      const { generateCaKey } = await import(${JSON.stringify(new URL('../../lib/sshca.ts', import.meta.url).href)});
      const { ed25519Line } = await import(${JSON.stringify(new URL('../../scripts/sshkey-lines.ts', import.meta.url).href)});
      const garbage = [];
      for (let i = 0; i < 30000; i++) {
        generateCaKey();
        ed25519Line();
        // Garbage as a test run makes it: collections while keys are being exported.
        garbage.push('x'.repeat(100));
        if (garbage.length > 1000) garbage.length = 0;
      }
      console.log('made 30000');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 150_000 });
    expect(stdout.trim()).toBe('made 30000');
  }, 180_000);
});
