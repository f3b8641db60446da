// Tests for lib/sshcert.ts against the real ssh-keygen: every certificate signed here (each
// subject key type × each CA type, user and host) is listed by `ssh-keygen -L` with the expected
// fields; a certificate ssh-keygen signed is reproduced byte for byte; certificates ssh-keygen
// signed are read back with their signature checked.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPublicLine, generateCaKey, readCaPrivateKey, type CaKey, type CaKeyType } from '../../lib/sshca.js';
import {
  CLOCK_SKEW_SECONDS,
  CertificateError,
  MAX_PRINCIPALS,
  USER_EXTENSIONS,
  certificateValidity,
  checkPrincipal,
  parseCertificate,
  randomSerial,
  signCertificate,
  type CertificateRequest,
  type CertificateType,
} from '../../lib/sshcert.js';
import { SshKeyError, parsePublicKey } from '../../lib/sshkeys.js';
import { WireWriter } from '../../lib/sshwire.js';
import { KEY_TYPES, Scratch, expectThrown, keygenArgs, keygenFingerprint, listCertificate, listedTime, sshKeygen, sshKeygenOk } from '../sshkeygen.js';

const scratch = new Scratch();
afterAll(() => scratch.remove());

const KEYGEN_ARGS = keygenArgs(2048);

/** How `ssh-keygen -L` names the signature algorithm a CA of each type uses. */
const SIGNATURE_ALGORITHM: Readonly<Record<CaKeyType, string>> = {
  'ssh-ed25519': 'ssh-ed25519',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521',
  'ssh-rsa': 'rsa-sha2-512',
};

interface Subject {
  line: string;
  fingerprint: string;
}

const subjects = new Map<CaKeyType, Subject>();
const cas = new Map<CaKeyType, CaKey>();

const subject = (type: CaKeyType): Subject => subjects.get(type) ?? expect.fail(`no ${type} subject`);
const caOf = (type: CaKeyType): CaKey => cas.get(type) ?? expect.fail(`no ${type} CA`);

beforeAll(() => {
  for (const type of KEY_TYPES) {
    const made = scratch.keygen(KEYGEN_ARGS[type], `subject ${type}`);
    subjects.set(type, { line: made.publicLine, fingerprint: keygenFingerprint(`${made.file}.pub`) });
    cas.set(type, generateCaKey(type, `CA ${type}`));
  }
});

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z

const request = (overrides: Partial<CertificateRequest> = {}): CertificateRequest => ({
  publicKey: subject('ssh-ed25519').line,
  type: 'user',
  keyId: 'alice',
  principals: ['alice'],
  ...certificateValidity(NOW, 3600),
  serial: 12345n,
  ...overrides,
});

const expectRefused = (run: () => unknown, reason: RegExp): void => {
  // A CertificateError is an SshKeyError: handlers answer both with a 400.
  expect(expectThrown(run, CertificateError, reason)).toBeInstanceOf(SshKeyError);
};

describe('every certificate signed here is read by ssh-keygen -L', () => {
  const cases = KEY_TYPES.flatMap((caType) =>
    KEY_TYPES.flatMap((keyType) => (['user', 'host'] as const).map((type) => [caType, keyType, type] as const)),
  );

  it.each(cases)('CA %s, subject %s, %s certificate', (caType, keyType, type: CertificateType) => {
    const ca = caOf(caType);
    const serial = randomSerial();
    const principals = type === 'user' ? ['alice', 'admin'] : ['web1', 'web1.example.org'];
    const validity = certificateValidity(NOW, 86_400);
    const cert = signCertificate(ca, {
      publicKey: subject(keyType).line,
      type,
      keyId: principals[0] ?? '',
      principals,
      ...validity,
      serial,
    });
    expect(cert.line.startsWith(`${keyType}-cert-v01@openssh.com `)).toBe(true);
    expect(cert.fingerprint).toBe(subject(keyType).fingerprint);

    const listing = listCertificate(scratch, cert.line);
    expect(listing.type).toBe(`${keyType}-cert-v01@openssh.com ${type} certificate`);
    expect(listing.publicKey).toMatch(new RegExp(`-CERT ${escape(subject(keyType).fingerprint)}$`));
    expect(listing.signingCa).toMatch(
      new RegExp(` ${escape(ca.fingerprint)} \\(using ${SIGNATURE_ALGORITHM[caType]}\\)$`),
    );
    expect(listing.keyId).toBe(`"${principals[0] ?? ''}"`);
    expect(listing.serial).toBe(serial.toString());
    expect(listing.valid).toBe(`from ${listedTime(NOW - CLOCK_SKEW_SECONDS)} to ${listedTime(NOW + 86_400)}`);
    expect(listing.principals).toEqual(principals);
    expect(listing.criticalOptions).toEqual([]);
    expect(listing.extensions).toEqual(type === 'user' ? USER_EXTENSIONS : []);

    const parsed = parseCertificate(cert.line);
    expect(parsed).toMatchObject({ type, serial, keyId: principals[0], principals, ...validity, keyType });
    expect(parsed.ca.blob.equals(ca.blob)).toBe(true);
    expect(parsed.key.fingerprint).toBe(subject(keyType).fingerprint);
  });
});

describe('certificate layout', () => {
  it('writes the user extensions in byte order (capital X first), as OpenSSH requires', () => {
    const sorted = [...USER_EXTENSIONS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(USER_EXTENSIONS).toEqual(sorted);
    expect([...parseCertificate(signCertificate(caOf('ssh-ed25519'), request()).line).extensions.keys()]).toEqual(sorted);
  });

  it.each(['user', 'host'] as const)('reproduces a %s certificate ssh-keygen signed, byte for byte', (type) => {
    // Ed25519 signatures are deterministic: same CA, same fields, same nonce give the same bytes.
    const caFile = scratch.keygen(['-t', 'ed25519'], 'the CA');
    const subjectFile = scratch.keygen(['-t', 'ecdsa', '-b', '384'], 'the subject');
    const args = ['-q', '-s', caFile.file, '-I', 'key id 1', '-n', 'alice,bob', '-z', '987654321'];
    sshKeygenOk([...args, '-V', '20250101000000Z:20260101000000Z', ...(type === 'host' ? ['-h'] : []), `${subjectFile.file}.pub`]);
    const made = readCert(`${subjectFile.file}-cert.pub`);
    const theirs = parseCertificate(made);
    const ours = signCertificate(readCaPrivateKey(caFile.privateText), {
      publicKey: subjectFile.publicLine,
      type,
      keyId: 'key id 1',
      principals: ['alice', 'bob'],
      validAfter: Date.UTC(2025, 0, 1) / 1000,
      validBefore: Date.UTC(2026, 0, 1) / 1000,
      serial: 987654321n,
      nonce: theirs.nonce,
      comment: 'the subject',
    });
    expect(ours.line).toBe(made);
  });

  it('lists the largest serial and validity bounds exactly', () => {
    const serial = (1n << 64n) - 1n;
    const cert = signCertificate(caOf('ssh-ed25519'), request({ serial, validAfter: 0, validBefore: 2 ** 53 - 1 }));
    const listing = listCertificate(scratch, cert.line);
    expect(listing.serial).toBe('18446744073709551615');
    expect(parseCertificate(cert.line)).toMatchObject({ serial, validAfter: 0, validBefore: 2 ** 53 - 1 });
  });

  it('uses a fresh 32-byte nonce for each certificate unless given one', () => {
    const first = parseCertificate(signCertificate(caOf('ssh-ed25519'), request()).line);
    const second = parseCertificate(signCertificate(caOf('ssh-ed25519'), request()).line);
    expect(first.nonce).toHaveLength(32);
    expect(first.nonce.equals(second.nonce)).toBe(false);
  });

  it('accepts a parsed key as well as a line', () => {
    const cert = signCertificate(caOf('ssh-ed25519'), request({ publicKey: parsePublicKey(subject('ssh-rsa').line) }));
    expect(parseCertificate(cert.line).keyType).toBe('ssh-rsa');
  });
});

describe('certificates a CA made by ssh-keygen signs here', () => {
  it.each(KEY_TYPES)('%s CA: ssh-keygen -L names that CA as the signer', (caType) => {
    const made = scratch.keygen(caType === 'ssh-rsa' ? ['-t', 'rsa', '-b', '3072'] : KEYGEN_ARGS[caType], 'Keyper CA');
    const ca = readCaPrivateKey(made.privateText);
    const cert = signCertificate(ca, request({ publicKey: subject('ecdsa-sha2-nistp256').line }));
    const listing = listCertificate(scratch, cert.line);
    const caFingerprint = keygenFingerprint(`${made.file}.pub`);
    expect(listing.signingCa).toMatch(new RegExp(` ${escape(caFingerprint)} \\(using ${SIGNATURE_ALGORITHM[caType]}\\)$`));
    const { ca: signer } = parseCertificate(cert.line);
    expect(`${signer.type} ${signer.blob.toString('base64')} Keyper CA`).toBe(made.publicLine);
    expect(caPublicLine(ca)).toBe(made.publicLine);
  });
});

describe('parseCertificate on certificates ssh-keygen signed', () => {
  it.each([
    ['ssh-ed25519', ['-t', 'ed25519'], []],
    ['ecdsa-sha2-nistp521', ['-t', 'ecdsa', '-b', '521'], []],
    ['ssh-rsa (rsa-sha2-512)', ['-t', 'rsa', '-b', '2048'], []],
    ['ssh-rsa (rsa-sha2-256)', ['-t', 'rsa', '-b', '2048'], ['-t', 'rsa-sha2-256']],
  ])('%s CA: all fields, signature verified', (_name, caArgs, signArgs) => {
    const caFile = scratch.keygen(caArgs);
    const subjectFile = scratch.keygen(['-t', 'ed25519']);
    sshKeygenOk([
      ...['-q', '-s', caFile.file, ...signArgs, '-I', 'bob@example', '-n', 'bob,root', '-z', '77'],
      ...['-V', '20250101000000Z:20250201000000Z', '-O', 'force-command=/bin/true', '-O', 'no-pty'],
      `${subjectFile.file}.pub`,
    ]);
    const parsed = parseCertificate(readCert(`${subjectFile.file}-cert.pub`));
    expect(parsed).toMatchObject({
      type: 'user',
      keyType: 'ssh-ed25519',
      serial: 77n,
      keyId: 'bob@example',
      principals: ['bob', 'root'],
      validAfter: Date.UTC(2025, 0, 1) / 1000,
      validBefore: Date.UTC(2025, 1, 1) / 1000,
      comment: 'test key',
    });
    expect(parsed.criticalOptions.has('force-command')).toBe(true);
    expect([...parsed.extensions.keys()]).not.toContain('permit-pty');
    expect(parsed.ca.fingerprint).toBe(keygenFingerprint(`${caFile.file}.pub`));
    expect(parsed.key.fingerprint).toBe(keygenFingerprint(`${subjectFile.file}.pub`));
  });

  it('reads "always" and "forever" validity and an empty principal list', () => {
    const caFile = scratch.keygen(['-t', 'ed25519']);
    const subjectFile = scratch.keygen(['-t', 'ed25519']);
    sshKeygenOk(['-q', '-s', caFile.file, '-h', '-I', 'any', `${subjectFile.file}.pub`]);
    const parsed = parseCertificate(readCert(`${subjectFile.file}-cert.pub`));
    expect(parsed).toMatchObject({ type: 'host', validAfter: 0, validBefore: Infinity, principals: [], serial: 0n });
    expect(parsed.extensions.size).toBe(0);
  });

  it('refuses a SHA-1 (ssh-rsa) signature, as sshd does by default', () => {
    const caFile = scratch.keygen(['-t', 'rsa', '-b', '2048']);
    const subjectFile = scratch.keygen(['-t', 'ed25519']);
    sshKeygenOk(['-q', '-s', caFile.file, '-t', 'ssh-rsa', '-I', 'old', '-n', 'x', `${subjectFile.file}.pub`]);
    expectRefused(() => parseCertificate(readCert(`${subjectFile.file}-cert.pub`)), /signature is not valid/);
  });

  it('refuses a tampered certificate, and so does ssh-keygen -L', () => {
    const cert = signCertificate(caOf('ecdsa-sha2-nistp256'), request({ keyId: 'alice' }));
    const blob = Buffer.from(cert.line.split(' ')[1] ?? '', 'base64');
    const at = blob.indexOf(Buffer.from('alice'));
    blob[at] = 'm'.charCodeAt(0); // key id "mlice"
    const tampered = `${cert.line.split(' ')[0]} ${blob.toString('base64')}`;
    expectRefused(() => parseCertificate(tampered), /signature is not valid/);
    const run = sshKeygen(['-L', '-f', scratch.write('tampered-cert.pub', `${tampered}\n`)]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/signature/);
  });

  it('refuses a certificate line whose type does not match its blob, and plain keys', () => {
    const cert = signCertificate(caOf('ssh-ed25519'), request());
    const base64 = cert.line.split(' ')[1] ?? '';
    expectRefused(() => parseCertificate(`ssh-rsa-cert-v01@openssh.com ${base64}`), /does not match/);
    expectRefused(() => parseCertificate(subject('ssh-ed25519').line), /unsupported certificate type/);
    expectRefused(() => parseCertificate('ssh-ed25519-cert-v01@openssh.com'), /<type> <base64>/);
    expect(() => parseCertificate(`${cert.line}\n`)).toThrow(/single line/);
  });
});

describe('requests refused before anything is signed', () => {
  it.each([
    ['a comma', 'alice,root'],
    ['a space', 'alice root'],
    ['a tab', 'alice\troot'],
    ['a line feed', 'alice\nroot'],
    ['a carriage return', 'alice\r'],
    ['NUL', 'alice\u0000'],
    ['DEL', 'alice\u007f'],
    ['a C1 control', 'alice\u0085'],
    ['a no-break space', 'alice\u00a0'],
    ['an em space', 'alice\u2003'],
    ['a line separator', 'alice\u2028'],
    ['an ideographic space', 'alice\u3000'],
    ['a byte order mark', '\ufeffalice'],
  ])('refuses a principal with %s', (_name, principal) => {
    expectRefused(() => checkPrincipal(principal), /comma, whitespace or a control character/);
    expectRefused(() => signCertificate(caOf('ssh-ed25519'), request({ principals: ['ok', principal] })), /principal/);
  });

  it('accepts ordinary principals', () => {
    for (const principal of ['alice', 'alice@example.org', 'web-1.example.org', 'Zoë', 'x_y+z']) {
      expect(() => checkPrincipal(principal)).not.toThrow();
    }
  });

  it.each([
    ['no principals', { principals: [] }, /at least one principal/],
    ['an empty principal', { principals: [''] }, /non-empty/],
    ['duplicate principals', { principals: ['a', 'a'] }, /unique/],
    ['too many principals', { principals: Array.from({ length: MAX_PRINCIPALS + 1 }, (_, i) => `p${i}`) }, /at most 256/],
    ['serial 0', { serial: 0n }, /non-zero 64-bit/],
    ['a serial beyond 64 bits', { serial: 1n << 64n }, /non-zero 64-bit/],
    ['an empty validity', { validAfter: NOW, validBefore: NOW }, /validity is empty/],
    ['a fractional time', { validBefore: NOW + 0.5 }, /invalid validity/],
    ['a key id with a line break', { keyId: 'alice\nFAKE LOG LINE' }, /key id/],
    ['an unknown type', { type: 'admin' as CertificateType }, /user or host/],
  ])('refuses %s', (_name, overrides, reason) => {
    expectRefused(() => signCertificate(caOf('ssh-ed25519'), request(overrides)), reason);
  });

  it('refuses security keys and invalid keys', () => {
    const sk = new WireWriter()
      .string('sk-ssh-ed25519@openssh.com')
      .string(Buffer.alloc(32, 1))
      .string('ssh:')
      .toBuffer();
    expectRefused(
      () => signCertificate(caOf('ssh-ed25519'), request({ publicKey: `sk-ssh-ed25519@openssh.com ${sk.toString('base64')}` })),
      /not issued for sk-ssh-ed25519/,
    );
    expect(() => signCertificate(caOf('ssh-ed25519'), request({ publicKey: 'ssh-ed25519 AAAA' }))).toThrow(SshKeyError);
  });
});

describe('serials and validity', () => {
  it('draws a non-zero 64-bit serial, drawing again on zero', () => {
    const draws = [Buffer.alloc(8), Buffer.from('ffffffffffffffff', 'hex')];
    expect(randomSerial(() => draws.shift() ?? expect.fail('drew too often'))).toBe((1n << 64n) - 1n);
    for (let i = 0; i < 100; i += 1) {
      const serial = randomSerial();
      expect(serial > 0n && serial < 1n << 64n).toBe(true);
    }
  });

  it('starts five minutes before now and ends after the duration', () => {
    expect(certificateValidity(NOW, 3600)).toEqual({ validAfter: NOW - 300, validBefore: NOW + 3600 });
  });
});

/** A certificate file as ssh-keygen wrote it, as one line. */
function readCert(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
