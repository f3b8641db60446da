// Tests for lib/krl.ts against the real ssh-keygen: every KRL written here is loaded by
// `ssh-keygen -Q`, which reports exactly the revoked keys and certificates as REVOKED; KRLs that
// `ssh-keygen -k` made (Keyper's way) are read back here with everything they revoke.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KrlError, readKrl, sha256OfFingerprint, writeKrl, type KrlInput } from '../../lib/krl.js';
import { caPublicLine, generateCaKey, writeCaPrivateKey, type CaKey } from '../../lib/sshca.js';
import { randomSerial, signCertificate } from '../../lib/sshcert.js';
import { WireWriter } from '../../lib/sshwire.js';
import { Scratch, expectThrown, keygenFingerprint, queryKrl, sshKeygen, sshKeygenOk } from '../sshkeygen.js';

const scratch = new Scratch();
afterAll(() => scratch.remove());

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
/** magic 8, format 4, version 8, date 8, flags 8, reserved string 4, comment string 4. */
const HEADER_BYTES = 44;

interface Key {
  file: string;
  line: string;
  fingerprint: string;
}

let userCa: CaKey;
let hostCa: CaKey;
let otherCa: CaKey;
const keys: Key[] = [];

const key = (index: number): Key => keys[index] ?? expect.fail(`no key ${index}`);

const certificate = (ca: CaKey, serial: bigint, subject = key(0)): string =>
  signCertificate(ca, {
    publicKey: subject.line,
    type: 'user',
    keyId: 'alice',
    principals: ['alice'],
    validAfter: NOW - 300,
    validBefore: NOW + 3600,
    serial,
  }).line;

beforeAll(() => {
  userCa = generateCaKey('ssh-ed25519');
  hostCa = generateCaKey('ecdsa-sha2-nistp256');
  otherCa = generateCaKey('ssh-ed25519');
  const types = [['-t', 'ed25519'], ['-t', 'ecdsa', '-b', '384'], ['-t', 'rsa', '-b', '2048'], ['-t', 'ed25519']];
  for (const args of types) {
    const made = scratch.keygen(args);
    keys.push({ file: `${made.file}.pub`, line: made.publicLine, fingerprint: keygenFingerprint(`${made.file}.pub`) });
  }
});

const krl = (input: Partial<KrlInput>): Buffer => writeKrl({ version: 1n, generatedAt: NOW, ...input });

const expectRefused = (run: () => unknown, reason: RegExp): void => {
  expectThrown(run, KrlError, reason);
};

describe('KRLs written here, read by ssh-keygen -Q', () => {
  it('the empty KRL is valid and revokes nothing', () => {
    const empty = krl({});
    expect(empty).toHaveLength(HEADER_BYTES);
    const { verdicts, run } = queryKrl(scratch, empty, [key(0).line, certificate(userCa, 1n)]);
    expect(verdicts).toEqual(['ok', 'ok']);
    expect(run.status).toBe(0);
    const listed = sshKeygenOk(['-Q', '-l', '-f', scratch.write('empty.krl', empty)]);
    expect(listed).toContain('# KRL version 1');
  });

  it('revokes certificate serials per CA and plain keys by SHA256, and nothing else', () => {
    const list = krl({
      version: 42n,
      comment: 'keyper',
      certificates: [
        { ca: userCa.blob, serials: [11n, 12n] },
        { ca: hostCa.blob, serials: [13n] },
      ],
      fingerprints: [key(1).fingerprint, key(3).fingerprint],
    });
    const cases: Array<[string, string, string]> = [
      ['user CA, revoked serial 11', certificate(userCa, 11n), 'REVOKED'],
      ['user CA, revoked serial 12', certificate(userCa, 12n), 'REVOKED'],
      ['user CA, serial 13 (revoked for the host CA only)', certificate(userCa, 13n), 'ok'],
      ['host CA, revoked serial 13', certificate(hostCa, 13n), 'REVOKED'],
      ['host CA, serial 11 (revoked for the user CA only)', certificate(hostCa, 11n), 'ok'],
      ['a CA not in the KRL, serial 11', certificate(otherCa, 11n), 'ok'],
      ['a certificate for a revoked key, unrevoked serial', certificate(userCa, 99n, key(3)), 'REVOKED'],
      ['revoked plain key (ECDSA)', key(1).line, 'REVOKED'],
      ['revoked plain key (Ed25519)', key(3).line, 'REVOKED'],
      ['plain key not revoked (Ed25519)', key(0).line, 'ok'],
      ['plain key not revoked (RSA)', key(2).line, 'ok'],
    ];
    const { verdicts, run } = queryKrl(scratch, list, cases.map(([, line]) => line));
    expect(cases.map(([name], i) => `${name}: ${verdicts[i]}`)).toEqual(cases.map(([name, , want]) => `${name}: ${want}`));
    expect(run.status).toBe(1); // ssh-keygen -Q exits non-zero when anything is revoked
    const listed = sshKeygenOk(['-Q', '-l', '-f', scratch.path('query.krl')]);
    expect(listed).toContain('# KRL version 42');
    expect(listed).toContain('# Comment: keyper');
  });

  it('writes runs of consecutive serials as ranges and the rest as a list', () => {
    const serials = [5n, 1011n, ...Array.from({ length: 10 }, (_, i) => 1000n + BigInt(i)), 7n, 8n];
    const list = krl({ certificates: [{ ca: userCa.blob, serials }] });
    const listed = sshKeygenOk(['-Q', '-l', '-f', scratch.write('ranges.krl', list)]);
    expect(listed.match(/^serial: .*$/gm)).toEqual(['serial: 5', 'serial: 7-8', 'serial: 1000-1009', 'serial: 1011']);
    // One range subsection (1 + 4 + 16 bytes) and one list of 4 serials (1 + 4 + 32 bytes).
    expect(list).toHaveLength(HEADER_BYTES + 1 + 4 + (4 + userCa.blob.length) + 4 + 21 + 37);
    const { verdicts } = queryKrl(
      scratch,
      list,
      [1000n, 1009n, 1010n, 1011n, 1012n, 5n, 6n].map((serial) => certificate(userCa, serial)),
    );
    expect(verdicts).toEqual(['REVOKED', 'REVOKED', 'ok', 'REVOKED', 'ok', 'REVOKED', 'ok']);
  });

  it('writes the largest serial, and names a CA given twice once', () => {
    const top = (1n << 64n) - 1n;
    const list = krl({ certificates: [{ ca: userCa.blob, serials: [top] }, { ca: userCa.blob, serials: [3n, top] }] });
    expect(readKrl(list).certificates).toHaveLength(1);
    const { verdicts } = queryKrl(scratch, list, [certificate(userCa, top), certificate(userCa, 3n), certificate(userCa, 4n)]);
    expect(verdicts).toEqual(['REVOKED', 'REVOKED', 'ok']);
  });

  it('holds 10,000 revoked serials and 1,000 revoked keys', () => {
    const serials = Array.from({ length: 10_000 }, () => randomSerial());
    const fingerprints = Array.from({ length: 999 }, (_, i) => `SHA256:${sha256Of(`key ${i}`)}`);
    fingerprints.push(key(2).fingerprint);
    const list = krl({ certificates: [{ ca: userCa.blob, serials }], fingerprints });
    // 8 bytes per serial, 36 per hash, and the framing.
    expect(list).toHaveLength(HEADER_BYTES + 1 + 4 + (4 + userCa.blob.length) + 4 + 5 + 80_000 + 5 + 36_000);
    const revoked = [serials[0], serials[4_999], serials[9_999]].map((serial) => certificate(userCa, serial ?? 0n));
    const { verdicts } = queryKrl(scratch, list, [...revoked, certificate(userCa, 1n), key(2).line, key(0).line]);
    expect(verdicts).toEqual(['REVOKED', 'REVOKED', 'REVOKED', 'ok', 'REVOKED', 'ok']);
  });

  it('puts the SHA256 hashes in numeric order, once each', () => {
    const fingerprints = [key(3).fingerprint, key(0).fingerprint, key(1).fingerprint, key(0).fingerprint];
    const list = krl({ fingerprints });
    const hashes: Buffer[] = [];
    let offset = HEADER_BYTES + 1 + 4; // section type and length
    while (offset < list.length) {
      hashes.push(list.subarray(offset + 4, offset + 4 + list.readUInt32BE(offset)));
      offset += 4 + 32;
    }
    expect(hashes).toHaveLength(3);
    expect([...hashes].sort(Buffer.compare)).toEqual(hashes);
    expect(list[HEADER_BYTES]).toBe(5); // KRL_SECTION_FINGERPRINT_SHA256
  });
});

describe('KRLs byte for byte as ssh-keygen -k writes them', () => {
  /** ssh-keygen stamps the time itself: read it back to compare the rest. */
  const generatedAt = (bytes: Buffer): number => Number(bytes.readBigUInt64BE(20));

  it('the empty KRL', () => {
    const file = scratch.path('keygen-empty.krl');
    sshKeygenOk(['-k', '-f', file]);
    const theirs = readFileSync(file);
    expect(writeKrl({ version: 0n, generatedAt: generatedAt(theirs) })).toEqual(theirs);
  });

  it('sparse serials (a list) and SHA256 hashes', () => {
    const caFile = scratch.write('known-ca.pub', `${caPublicLine(userCa)}\n`);
    const serials = [2_000_000n, 1n, 1_000_000n];
    const spec = [...serials.map((serial) => `serial: ${serial}`), ...keys.map((k) => `hash: ${k.fingerprint}`)];
    const file = scratch.path('keygen-known.krl');
    sshKeygenOk(['-k', '-f', file, '-s', caFile, '-z', '7', scratch.write('known.txt', `${spec.join('\n')}\n`)]);
    const theirs = readFileSync(file);
    const ours = writeKrl({
      version: 7n,
      generatedAt: generatedAt(theirs),
      certificates: [{ ca: userCa.blob, serials }],
      fingerprints: keys.map((k) => k.fingerprint),
    });
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });
});

describe('writeKrl refuses what would make sshd refuse every key', () => {
  it.each([
    ['serial 0', { certificates: [{ ca: generateCaKey().blob, serials: [0n] }] }, /non-zero 64-bit/],
    ['a serial beyond 64 bits', { certificates: [{ ca: generateCaKey().blob, serials: [1n << 64n] }] }, /non-zero 64-bit/],
    ['a CA that is not a key', { certificates: [{ ca: Buffer.from('junk'), serials: [1n] }] }, /CA key in the KRL is not valid/],
    ['an MD5 fingerprint', { fingerprints: ['MD5:12:34'] }, /not a SHA256 key fingerprint/],
    ['a short fingerprint', { fingerprints: ['SHA256:abc'] }, /not a SHA256 key fingerprint/],
    ['a padded fingerprint', { fingerprints: [`SHA256:${sha256Of('x')}=`] }, /not a SHA256 key fingerprint/],
    ['a NUL in the comment', { comment: 'a\0b' }, /NUL/],
    ['a negative time', { generatedAt: -1 }, /generation time/],
  ])('refuses %s', (_name, input, reason) => {
    expectRefused(() => krl(input as Partial<KrlInput>), reason);
  });

  it('decodes a fingerprint to its hash', () => {
    expect(sha256OfFingerprint(key(0).fingerprint)).toEqual(
      Buffer.from(key(0).fingerprint.slice(7), 'base64'),
    );
    expect(sha256OfFingerprint(key(0).fingerprint)).toHaveLength(32);
  });
});

describe('readKrl', () => {
  it('reads back what writeKrl wrote', () => {
    const list = krl({
      version: 9n,
      comment: 'c',
      certificates: [
        { ca: userCa.blob, serials: [3n, 1n, 2n, 10n, 40n] },
        { ca: hostCa.blob, serials: [7n] },
      ],
      fingerprints: [key(1).fingerprint, key(0).fingerprint],
    });
    const contents = readKrl(list);
    expect(contents).toMatchObject({ version: 9n, generatedAt: BigInt(NOW), comment: 'c', keys: [], sha1: [] });
    expect(contents.certificates.map((c) => [c.ca?.fingerprint, c.serials, c.keyIds])).toEqual([
      [userCa.fingerprint, [[1n, 3n], [10n, 10n], [40n, 40n]], []],
      [hostCa.fingerprint, [[7n, 7n]], []],
    ]);
    expect([...contents.sha256].sort()).toEqual([key(0).fingerprint, key(1).fingerprint].sort());
  });

  it('reads everything ssh-keygen -k writes from a revocation spec', () => {
    const caFile = scratch.write('spec-ca.pub', `${caPublicLine(userCa)}\n`);
    const spec = [
      'serial: 42',
      'serial: 100-200',
      'serial: 300',
      'serial: 302',
      'serial: 0x1000',
      'id: bob',
      `key: ${key(0).line}`,
      `sha256: ${key(1).line}`,
      `hash: ${key(2).fingerprint}`,
      `sha1: ${key(3).line}`,
    ].join('\n');
    const file = scratch.path('spec.krl');
    sshKeygenOk(['-k', '-f', file, '-s', caFile, '-z', '17', scratch.write('spec.txt', `${spec}\n`)]);
    const made = sshKeygenOk(['-Q', '-l', '-f', file]);
    const contents = readKrl(readFileSync(file));
    expect(contents.version).toBe(17n);
    expect(contents.certificates).toHaveLength(1);
    const [section] = contents.certificates;
    expect(section?.ca?.fingerprint).toBe(userCa.fingerprint);
    expect(section?.serials).toEqual([[42n, 42n], [100n, 200n], [300n, 300n], [302n, 302n], [4096n, 4096n]]);
    expect(section?.keyIds).toEqual(['bob']);
    // `key:` revokes the whole key blob (an explicit key section), not a hash.
    expect(contents.keys.map((k) => [k.type, k.fingerprint])).toEqual([['ssh-ed25519', key(0).fingerprint]]);
    expect([...contents.sha256].sort()).toEqual([key(1).fingerprint, key(2).fingerprint].sort());
    // SHA1 hashes are kept as hex: they cannot become SHA256 fingerprints.
    expect(contents.sha1).toEqual([keygenSha1Hex(key(3).file)]);
    // ssh-keygen's own listing agrees on the serials.
    expect(made.match(/^serial: .*$/gm)).toEqual(['serial: 42', 'serial: 100-200', 'serial: 300', 'serial: 302', 'serial: 4096']);
  });

  it('reads what ssh-keygen -k writes for key and certificate files', () => {
    const withSerial = scratch.write('serial-cert.pub', `${certificate(userCa, 555n)}\n`);
    // ssh-keygen signs with serial 0 unless told otherwise; such a certificate is revoked by key id.
    const hostCaFile = scratch.write('host-ca', writeCaPrivateKey(hostCa));
    const hostKey = scratch.keygen(['-t', 'ed25519']);
    sshKeygenOk(['-q', '-s', hostCaFile, '-h', '-I', 'web1', '-n', 'web1', `${hostKey.file}.pub`]);
    const file = scratch.path('files.krl');
    sshKeygenOk(['-k', '-f', file, key(2).file, withSerial]);
    // -u adds to an existing KRL.
    sshKeygenOk(['-k', '-u', '-f', file, `${hostKey.file}-cert.pub`]);
    const contents = readKrl(readFileSync(file));
    expect(contents.certificates.map((c) => [c.ca?.fingerprint, c.serials, c.keyIds])).toEqual([
      [userCa.fingerprint, [[555n, 555n]], []],
      [hostCa.fingerprint, [], ['web1']],
    ]);
    // A plain key file is revoked as an explicit key; its SHA256 fingerprint is derived here.
    expect(contents.keys.map((k) => k.fingerprint)).toEqual([key(2).fingerprint]);
    expect(contents.sha256).toEqual([]);
  });

  it('reads a KRL made the way Keyper makes it: one ssh-keygen -k -u per revocation', () => {
    // Keyper signs with -z <UTC YYYYmmddHHMMSS><16 random bits> and revokes a certificate by its
    // file, a plain key by a `hash:` line, each time updating the KRL in place.
    const caFile = scratch.write('keyper-user-ca', writeCaPrivateKey(userCa));
    const file = scratch.path('keyper.krl');
    sshKeygenOk(['-k', '-f', file]);
    const serials = ['2024031512000112345', '2024031512000165535', '2024031512000100007', '2024031612304599'];
    for (const [i, serial] of serials.entries()) {
      const subjectFile = scratch.keygen(['-t', 'ed25519']);
      sshKeygenOk(['-q', '-s', caFile, '-z', serial, '-I', `user${i}`, '-n', `user${i}`, '-V', '+52w', `${subjectFile.file}.pub`]);
      sshKeygenOk(['-k', '-u', '-q', '-f', file, `${subjectFile.file}-cert.pub`]);
    }
    for (const revoked of [key(0), key(3)]) {
      sshKeygenOk(['-k', '-u', '-q', '-f', file, scratch.write('hash.pub', `hash: ${revoked.fingerprint}`)]);
    }
    const contents = readKrl(readFileSync(file));
    const expected = serials.map((serial) => BigInt(serial)).sort((a, b) => (a < b ? -1 : 1));
    expect(contents.certificates).toHaveLength(1);
    expect(contents.certificates[0]?.ca?.fingerprint).toBe(userCa.fingerprint);
    expect(contents.certificates[0]?.serials).toEqual(expected.map((serial) => [serial, serial]));
    expect([...contents.sha256].sort()).toEqual([key(0).fingerprint, key(3).fingerprint].sort());
    expect(contents.keys).toEqual([]);
    // Written back here, the same revocations hold for ssh-keygen.
    const rewritten = krl({ certificates: [{ ca: userCa.blob, serials: expected }], fingerprints: contents.sha256 });
    const { verdicts } = queryKrl(scratch, rewritten, [
      certificate(userCa, expected[0] ?? 0n, key(1)),
      certificate(userCa, (expected[0] ?? 0n) + 1n, key(1)),
      key(0).line,
      key(1).line,
    ]);
    expect(verdicts).toEqual(['REVOKED', 'ok', 'REVOKED', 'ok']);
  });

  it('refuses what OpenSSH refuses, and ssh-keygen agrees', () => {
    const valid = krl({ certificates: [{ ca: userCa.blob, serials: [5n] }] });
    const broken: Array<[string, Buffer, RegExp]> = [
      ['bad magic', Buffer.concat([Buffer.from('SSHKRL\n\x01'), valid.subarray(8)]), /not an OpenSSH KRL/],
      ['truncated', valid.subarray(0, valid.length - 1), /truncated/],
      ['an unknown section', Buffer.concat([valid, Buffer.from([9, 0, 0, 0, 0])]), /unsupported KRL section 9/],
      ['a signature section', Buffer.concat([valid, Buffer.from([4, 0, 0, 0, 0])]), /signed KRLs/],
      ['a SHA256 hash of 31 bytes', Buffer.concat([valid, section(5, new WireWriter().string(Buffer.alloc(31)))]), /wrong length/],
      ['serial 0 in a list', krlWithCertSubsection(0x20, new WireWriter().uint64(0n)), /serial 0/],
      ['a reversed range', krlWithCertSubsection(0x21, new WireWriter().uint64(5n).uint64(4n)), /invalid serial range/],
      ['format version 2', Buffer.concat([valid.subarray(0, 8), Buffer.from([0, 0, 0, 2]), valid.subarray(12)]), /format version/],
    ];
    for (const [name, bytes, reason] of broken) {
      expectRefused(() => readKrl(bytes), reason);
      const run = sshKeygen(['-Q', '-f', scratch.write('broken.krl', bytes), key(0).file]);
      expect([name, run.status]).toEqual([name, 255]);
    }
  });

  it('reads bitmaps, and ignores non-critical extensions but refuses critical ones', () => {
    // Bits 0, 1 and 9 from offset 64: serials 64, 65 and 73.
    const bitmap = krlWithCertSubsection(0x22, new WireWriter().uint64(64n).mpint(Buffer.from([0x02, 0x03])));
    expect(readKrl(bitmap).certificates[0]?.serials).toEqual([[64n, 65n], [73n, 73n]]);
    const { verdicts } = queryKrl(scratch, bitmap, [64n, 65n, 66n, 73n].map((serial) => certificate(userCa, serial)));
    expect(verdicts).toEqual(['REVOKED', 'REVOKED', 'ok', 'REVOKED']);
    expectRefused(() => readKrl(krlWithCertSubsection(0x22, new WireWriter().uint64(0n).mpint(Buffer.from([1])))), /serial 0/);

    const extension = (critical: boolean): Buffer =>
      section(255, new WireWriter().string('x@example.org').byte(critical ? 1 : 0).string(''));
    const empty = krl({});
    expect(readKrl(Buffer.concat([empty, extension(false)])).certificates).toEqual([]);
    expectRefused(() => readKrl(Buffer.concat([empty, extension(true)])), /critical extension/);
  });
});

/** A KRL whose only certificate section (for the user CA) holds one subsection. */
function krlWithCertSubsection(type: number, body: WireWriter): Buffer {
  const certificates = new WireWriter().string(userCa.blob).string('').byte(type).string(body.toBuffer());
  return Buffer.concat([krl({}), section(1, new WireWriter().raw(certificates.toBuffer()))]);
}

function section(type: number, body: WireWriter): Buffer {
  return new WireWriter().byte(type).string(body.toBuffer()).toBuffer();
}

/** A made-up SHA256 fingerprint (unpadded base64 of a hash). */
function sha256Of(text: string): string {
  return createHash('sha256').update(text).digest('base64').replace(/=+$/, '');
}

function keygenSha1Hex(file: string): string {
  const fingerprint = sshKeygenOk(['-E', 'sha1', '-l', '-f', file]).split(/\s+/)[1] ?? '';
  return Buffer.from(fingerprint.slice('SHA1:'.length), 'base64').toString('hex');
}
