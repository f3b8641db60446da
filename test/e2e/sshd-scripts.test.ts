// The shipped server scripts for certificates, run with /bin/sh and the real curl and ssh-keygen
// against this run's API over HTTP (no sshd needed; test/e2e/sshd-ca.test.ts runs them under a
// real sshd): authprinc.sh prints the principal for a certificate and fails closed;
// krl-refresh.sh installs the KRL, answers an unchanged list with a 304 that keeps the file, takes
// a new list atomically, and keeps the old file after a failed or odd download.
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKrl } from '../../lib/krl.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { addHost, deleteEntries } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiUrl, groupDN, hostDN, http, login, uniqueName } from '../helpers.js';

const run = promisify(execFile);
const SCRIPTS = fileURLToPath(new URL('../../scripts/sshd/', import.meta.url));

let dir = '';
let admin = '';
const host = uniqueName('scr');
const user = uniqueName('scr');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

const runScript = async (script: string, ...args: string[]): Promise<Outcome> => {
  try {
    const { stdout, stderr } = await run('/bin/sh', [path.join(dir, script), ...args], { env: { PATH: '/usr/bin:/bin' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
};

const configure = (lines: string[]): Promise<void> => writeFile(path.join(dir, 'keyper.env'), `${lines.join('\n')}\n`, { mode: 0o644 });

beforeAll(async () => {
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;
  dir = await mkdtemp(path.join(tmpdir(), 'keyper-scripts-'));
  for (const script of ['auth.sh', 'authprinc.sh', 'krl-refresh.sh']) {
    await copyFile(path.join(SCRIPTS, script), path.join(dir, script));
    await chmod(path.join(dir, script), 0o755);
  }
  await addHost(host);
  const created = await http('POST', '/users', {
    token: admin,
    json: { cn: user, userPassword: 'scripts-test', confirmPassword: 'scripts-test', givenName: 'S', sn: 'T', duration: 1, durationUnit: 'Hours', memberOfs: [groupDN(host)] },
  });
  expect(created.status, created.text).toBe(201);
});

afterAll(async () => {
  await http('DELETE', `/users/${user}`, { token: admin });
  await deleteEntries([groupDN(host), hostDN(host)]);
  await rm(dir, { recursive: true, force: true });
});

describe('authprinc.sh', () => {
  it('prints the login name for a certificate issued over HTTP (%u %f %s), and nothing for another serial', async () => {
    const line = ed25519Line();
    const reply = await http('PUT', `/users/${user}`, { token: admin, json: { sshPublicCerts: [{ name: 'k', key: line, hostGroups: [groupDN(host)] }] } });
    const cert = (reply.body as { sshPublicCerts: { fingerprint: string; serial: string }[] }[])[0]!.sshPublicCerts[0]!;
    await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${host}`]);
    expect(await runScript('authprinc.sh', user, parsePublicKey(line).fingerprint, cert.serial)).toMatchObject({ code: 0, stdout: `${user}\n` });
    expect(await runScript('authprinc.sh', user, cert.fingerprint, '12345')).toMatchObject({ code: 0, stdout: '' });
  });

  it('fails closed: no output and a non-zero status without a serial, with the API unreachable or not over https', async () => {
    await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${host}`]);
    const noSerial = await runScript('authprinc.sh', user, parsePublicKey(ed25519Line()).fingerprint);
    expect(noSerial).toMatchObject({ code: 2, stdout: '' });
    await configure([`KEYPER_API_URL=http://127.0.0.1:1/api`, `KEYPER_HOSTNAME=${host}`]);
    const unreachable = await runScript('authprinc.sh', user, parsePublicKey(ed25519Line()).fingerprint, '1');
    expect(unreachable.stdout).toBe('');
    expect(unreachable.code).not.toBe(0);
    await configure([`KEYPER_API_URL=http://keyper.example.org/api`, `KEYPER_HOSTNAME=${host}`]);
    expect(await runScript('authprinc.sh', user, parsePublicKey(ed25519Line()).fingerprint, '1')).toMatchObject({ code: 2, stdout: '' });
  });
});

describe('krl-refresh.sh', () => {
  const krlFile = (): string => path.join(dir, 'revoked_keys');

  it('installs the KRL, keeps it on a 304, and takes a changed list', async () => {
    await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_KRL_FILE=${krlFile()}`]);
    expect(await runScript('krl-refresh.sh')).toMatchObject({ code: 0, stderr: '' });
    const first = await readFile(krlFile());
    expect(readKrl(first).version).toBeGreaterThanOrEqual(0n);
    const etag = (await readFile(`${krlFile()}.etag`, 'utf8')).trim();
    expect(etag).toMatch(/^"\d+-[A-Za-z0-9_-]+"$/);
    const inode = (await stat(krlFile())).ino;

    // Unchanged: a 304, the very same file.
    expect(await runScript('krl-refresh.sh')).toMatchObject({ code: 0, stderr: '' });
    expect((await stat(krlFile())).ino).toBe(inode);

    // A revocation (a key removed through the API): the new list replaces the file.
    const line = ed25519Line();
    const added = await http('PUT', `/users/${user}`, { token: admin, json: { sshPublicKeys: [{ name: 'k', key: line, hostGroups: [] }] } });
    const stored = (added.body as { sshPublicKeys: Record<string, unknown>[] }[])[0]!.sshPublicKeys.find((k) => k.fingerprint === parsePublicKey(line).fingerprint);
    await http('PUT', `/users/${user}`, { token: admin, json: { sshPublicKeys: [stored] } });
    expect(await runScript('krl-refresh.sh')).toMatchObject({ code: 0, stderr: '' });
    const second = await readFile(krlFile());
    expect(readKrl(second).version).toBe(readKrl(first).version + 1n);
    expect(readKrl(second).sha256).toContain(parsePublicKey(line).fingerprint);
    expect((await readFile(`${krlFile()}.etag`, 'utf8')).trim()).not.toBe(etag);
  });

  it('keeps the old file after a failed, empty or odd download, saying why', async () => {
    const before = await readFile(krlFile());
    let answer: { status: number; body: Buffer } = { status: 200, body: Buffer.alloc(0) };
    const fake: Server = createServer((_request, response) => {
      response.writeHead(answer.status, { 'Content-Type': 'application/octet-stream', ETag: '"fake"' });
      response.end(answer.body);
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/api`;
    try {
      const cases: [string, { status: number; body: Buffer } | undefined, RegExp][] = [
        ['unreachable', undefined, /downloading .* failed/],
        ['empty', { status: 200, body: Buffer.alloc(0) }, /empty list/],
        ['not a KRL', { status: 200, body: Buffer.from('<html>maintenance</html>') }, /not a valid KRL/],
        ['truncated', { status: 200, body: before.subarray(0, 20) }, /not a valid KRL/],
        ['an error status', { status: 500, body: Buffer.from('{"msg":"x"}') }, /failed/],
      ];
      for (const [what, reply, reason] of cases) {
        if (reply !== undefined) answer = reply;
        await configure([`KEYPER_API_URL=${reply === undefined ? 'http://127.0.0.1:1/api' : fakeUrl}`, `KEYPER_KRL_FILE=${krlFile()}`]);
        const outcome = await runScript('krl-refresh.sh');
        expect(outcome.code, what).not.toBe(0);
        expect(outcome.stderr, what).toMatch(reason);
        expect((await readFile(krlFile())).equals(before), what).toBe(true);
      }
      // Plain http to anything but this machine is refused before any download.
      await configure([`KEYPER_API_URL=http://keyper.example.org/api`, `KEYPER_KRL_FILE=${krlFile()}`]);
      expect(await runScript('krl-refresh.sh')).toMatchObject({ code: 2 });
    } finally {
      fake.close();
    }
  });
});
