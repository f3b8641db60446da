// GET/POST /api/authkeys over HTTP through serverless-offline: a decision table of user × host ×
// key state with the exact body for each, the request forms sshd scripts use (query, form,
// Keyper's curl line with the real curl), and the shipped auth.sh against the running API.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { access, chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { addGroup, addHost, addStoredValues, authkeys, deleteEntries, patchStoredKey } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiUrl, groupDN, hostDN, http, login, uniqueName, type Reply } from '../helpers.js';

const run = promisify(execFile);
const AUTH_SH = fileURLToPath(new URL('../../scripts/sshd/auth.sh', import.meta.url));

const fp = (line: string): string => parsePublicKey(line).fingerprint;

/** The running processes whose command line contains `secret` (as `ps` shows it to anyone). */
const processesShowing = (secret: string): string[] =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return cmdline.includes(secret) ? [cmdline] : [];
      } catch {
        return []; // exited meanwhile
      }
    });

let admin = '';
const users: string[] = [];

/** Creates a user through the API as admin: groups, principals and keys in one request. */
const createUser = async (groups: string[], keys: { line: string; hostGroups: string[] }[], extra: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('ak');
  users.push(cn);
  const reply = await http('POST', '/users', {
    token: admin,
    json: {
      cn,
      userPassword: 'authkeys-test',
      confirmPassword: 'authkeys-test',
      givenName: 'Auth',
      sn: 'Keys',
      duration: 1,
      durationUnit: 'Days',
      memberOfs: groups,
      sshPublicKeys: keys.map(({ line, hostGroups }, i) => ({ name: `key ${i}`, key: line, fingerprint: fp(line), hostGroups })),
      ...extra,
    },
  });
  expect(reply.status, reply.text).toBe(201);
  return cn;
};

/** Gives the host a new credential through the API; returns the token. */
const rotateCredential = async (host: string): Promise<string> => {
  const reply = await http('PUT', `/hosts/${host}`, { token: admin, json: { rotateCredential: true } });
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as { credential: string }[])[0]!.credential;
};

const put = async (name: string, json: unknown): Promise<Reply> => {
  const reply = await http('PUT', `/users/${name}`, { token: admin, json });
  expect(reply.status, reply.text).toBe(200);
  return reply;
};

// The world of the table: hosts A and B (each in its own group), a team group with host A only.
const hostA = uniqueName('akha');
const hostB = uniqueName('akhb');
/** A host that carries a credential (set in the tests that need one). */
const hostC = uniqueName('akhc');
const team = uniqueName('akteam');
const principal = uniqueName('akprinc');
const key = {
  valid: ed25519Line('valid@laptop'),
  expired: ed25519Line('expired@laptop'),
  otherHost: ed25519Line('other@laptop'),
  admin: ed25519Line('admin@laptop'),
  locked: ed25519Line('locked@laptop'),
  principal: ed25519Line('principal@laptop'),
  leftGroup: ed25519Line('left@laptop'),
  guarded: ed25519Line('guarded@laptop'),
  unknown: ed25519Line('never-stored'),
};
const names = { user: '', admin: '', locked: '', principalUser: '', leftGroup: '', guarded: '' };

beforeAll(async () => {
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;
  await addHost(hostA);
  await addHost(hostB);
  await addGroup(team, [hostDN(hostA)]);

  names.user = await createUser([groupDN(hostA), groupDN(hostB)], [
    { line: key.valid, hostGroups: [groupDN(hostA)] },
    { line: key.expired, hostGroups: [groupDN(hostA)] },
    { line: key.otherHost, hostGroups: [groupDN(hostB)] },
  ]);
  // What the API cannot do: expire a key, and store values it would refuse (skipped on output).
  await patchStoredKey(names.user, fp(key.expired), { dateExpire: '20200101000000' });
  await addStoredValues(names.user, [
    JSON.stringify({ name: 'dsa', key: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old', hostGroups: [groupDN(hostA)], keyid: 50, keytype: 0, dateExpire: '20991231000000' }),
    JSON.stringify({ name: 'two lines', key: `${ed25519Line()}\n${key.unknown}`, hostGroups: [groupDN(hostA)], keyid: 51, keytype: 0, dateExpire: '20991231000000' }),
    'not json at all',
  ]);

  names.admin = await createUser([groupDN('KeyperAdmins')], [{ line: key.admin, hostGroups: [] }]);
  names.locked = await createUser([groupDN(hostA)], [{ line: key.locked, hostGroups: [groupDN(hostA)] }]);
  await put(names.locked, { accountLocked: true });
  names.principalUser = await createUser([groupDN(team)], [{ line: key.principal, hostGroups: [groupDN(team)] }], { principal: [principal] });
  names.leftGroup = await createUser([groupDN(hostA)], [{ line: key.leftGroup, hostGroups: [groupDN(hostA)] }]);
  await put(names.leftGroup, { memberOfs: [] });
  await addHost(hostC);
  names.guarded = await createUser([groupDN(hostC)], [{ line: key.guarded, hostGroups: [groupDN(hostC)] }]);
});

afterAll(async () => {
  for (const name of users) await http('DELETE', `/users/${name}`, { token: admin });
  await deleteEntries([groupDN(team), groupDN(hostA), groupDN(hostB), groupDN(hostC), hostDN(hostA), hostDN(hostB), hostDN(hostC)]);
});

describe('the decision table (exact bodies)', () => {
  // username and host are resolved lazily: the names are made in beforeAll.
  const rows: [string, () => Record<string, string>, () => string][] = [
    ['valid key, its host', () => ({ username: names.user, host: hostA }), () => `${key.valid}\n`],
    ['the key for the other host group, that host', () => ({ username: names.user, host: hostB }), () => `${key.otherHost}\n`],
    ['fingerprint of the valid key', () => ({ username: names.user, host: hostA, fingerprint: fp(key.valid) }), () => `${key.valid}\n`],
    ['fingerprint of a key for another host', () => ({ username: names.user, host: hostA, fingerprint: fp(key.otherHost) }), () => ''],
    ['fingerprint of the expired key', () => ({ username: names.user, host: hostA, fingerprint: fp(key.expired) }), () => ''],
    ['fingerprint of a key never stored', () => ({ username: names.user, host: hostA, fingerprint: fp(key.unknown) }), () => ''],
    ['empty fingerprint (no filter)', () => ({ username: names.user, host: hostA, fingerprint: '' }), () => `${key.valid}\n`],
    ['administrator, a host of no group of theirs', () => ({ username: names.admin, host: hostA }), () => `${key.admin}\n`],
    ['administrator, another host', () => ({ username: names.admin, host: hostB }), () => `${key.admin}\n`],
    ['administrator, fingerprint of the key', () => ({ username: names.admin, host: 'web1', fingerprint: fp(key.admin) }), () => `${key.admin}\n`],
    ['administrator, unknown host', () => ({ username: names.admin, host: 'nosuchhost' }), () => ''],
    ['locked user', () => ({ username: names.locked, host: hostA }), () => ''],
    ['locked user, fingerprint of the key', () => ({ username: names.locked, host: hostA, fingerprint: fp(key.locked) }), () => ''],
    ['principal for a user, a host of the team group', () => ({ username: principal, host: hostA }), () => `${key.principal}\n`],
    ['the same user by name', () => ({ username: names.principalUser, host: hostA }), () => `${key.principal}\n`],
    // Logins and principals are case-sensitive (sshd, certificates), LDAP's equality is not.
    ['the login name in upper case', () => ({ username: names.user.toUpperCase(), host: hostA }), () => ''],
    ['the principal in upper case', () => ({ username: principal.toUpperCase(), host: hostA }), () => ''],
    ['administrator, login name in upper case', () => ({ username: names.admin.toUpperCase(), host: hostA }), () => ''],
    ['principal, a host outside the team group', () => ({ username: principal, host: hostB }), () => ''],
    ['user removed from the host\'s group', () => ({ username: names.leftGroup, host: hostA }), () => ''],
    ['unknown user', () => ({ username: 'nosuchuser', host: hostA }), () => ''],
    ['unknown host', () => ({ username: names.user, host: 'nosuchhost' }), () => ''],
    ['a user of the seed on a host of no group of theirs', () => ({ username: 'bob', host: hostA }), () => ''],
    ['a username that cannot exist (filter characters)', () => ({ username: `${names.user})(cn=*`, host: hostA }), () => ''],
    ['username *', () => ({ username: '*', host: hostA }), () => ''],
    ['host *', () => ({ username: names.user, host: '*' }), () => ''],
    ['host with a comma (DN injection)', () => ({ username: names.user, host: `${hostA},ou=Hosts` }), () => ''],
  ];

  it.each(rows)('%s', async (_, params, expected) => {
    const reply = await authkeys(params());
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(reply.text).toBe(expected());
  });

  it('a user with several keys for the host gets each on its own line', async () => {
    const second = ed25519Line('second@desk');
    await put(names.principalUser, { sshPublicKeys: [{ name: 'desk', key: second, hostGroups: [groupDN(team)] }] });
    const reply = await authkeys({ username: principal, host: hostA });
    expect(reply.text).toBe(`${key.principal}\n${second}\n`);
  });
});

describe('request forms', () => {
  it('POST with a form body or JSON answers as GET does; the query string wins over the body', async () => {
    const form = await http('POST', '/authkeys', {
      body: new URLSearchParams({ username: names.user, host: hostA, key: 'ssh-ed25519#AAAA', serial: '12' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect([form.status, form.text]).toEqual([200, `${key.valid}\n`]);
    const jsonBody = await http('POST', '/authkeys', { json: { username: names.user, host: hostB } });
    expect([jsonBody.status, jsonBody.text]).toEqual([200, `${key.otherHost}\n`]);
    const both = await http('POST', `/authkeys?host=${hostB}`, {
      body: new URLSearchParams({ username: names.user, host: hostA }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(both.text).toBe(`${key.otherHost}\n`);
  });

  it('400 JSON when username or host is missing', async () => {
    const requests: Record<string, string>[] = [{ host: hostA }, { username: names.user }, { username: '', host: hostA }, {}];
    for (const params of requests) {
      const reply = await authkeys(params);
      expect(reply.status, JSON.stringify(params)).toBe(400);
      expect(reply.headers['content-type']).toMatch(/application\/json/);
      expect((reply.body as { msg: string }).msg).toMatch(/^Invalid input: /);
    }
  });

  it("Keyper's curl line, run with the real curl", async () => {
    const alice = ed25519Line('alice@laptop');
    await put('alice', { memberOfs: [groupDN('demo_servers'), groupDN('web1')], sshPublicKeys: [{ name: 'laptop', key: alice, hostGroups: [groupDN('web1')] }] });
    try {
      const curl = (fingerprint: string) =>
        run('curl', ['-s', '-G', '--data-urlencode', 'username=alice', '--data-urlencode', 'host=web1', '--data-urlencode', `fingerprint=${fingerprint}`, `${apiUrl()}/authkeys`]);
      expect((await curl(fp(alice))).stdout).toBe(`${alice}\n`);
      expect((await curl(fp(key.valid))).stdout).toBe('');
    } finally {
      // Only the key this test added: removing a key revokes it, and alice's demo key must stay.
      const stored = ((await http('GET', '/users/alice', { token: admin })).body as { sshPublicKeys: { fingerprint: string }[] }[])[0]!.sshPublicKeys;
      await put('alice', { memberOfs: [groupDN('demo_servers')], sshPublicKeys: stored.filter((k) => k.fingerprint === fp(alice)) });
    }
  });
});

describe('a host with a credential', () => {
  let token = '';
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` });
  const ask = (params: Record<string, string>, headers: Record<string, string> = {}) =>
    http('GET', `/authkeys?${new URLSearchParams(params).toString()}`, { headers });
  /** What a client sees: status, content type and body. */
  const seen = (reply: Reply) => [reply.status, reply.headers['content-type'], reply.text];

  beforeAll(async () => {
    token = await rotateCredential(hostC);
  });

  it('answers its keys only to a request that presents the credential', async () => {
    expect(seen(await ask({ username: names.guarded, host: hostC }, bearer(token)))).toEqual([200, 'text/plain; charset=utf-8', `${key.guarded}\n`]);
    expect((await ask({ username: names.guarded, host: hostC }, { authorization: `bearer ${token}` })).text).toBe(`${key.guarded}\n`);
    const refused: [string, Record<string, string>, Record<string, string>][] = [
      ['no credential', {}, {}],
      ['a wrong one', {}, bearer(ed25519Line().split(' ')[1]!.slice(0, 43))],
      ['the token with a character changed', {}, bearer(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)],
      ['an administrator\'s access token', {}, bearer(admin)],
      ['the token in the query string', { token }, {}],
      ['the token as another scheme', {}, { authorization: `Basic ${token}` }],
    ];
    for (const [what, extra, headers] of refused) {
      const reply = await ask({ username: names.guarded, host: hostC, ...extra }, headers);
      expect(seen(reply), what).toEqual([200, 'text/plain; charset=utf-8', '']);
    }
    const form = await http('POST', '/authkeys', {
      body: new URLSearchParams({ username: names.guarded, host: hostC }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer(token) },
    });
    expect([form.status, form.text]).toEqual([200, `${key.guarded}\n`]);
  });

  it('answers a request without it exactly as it answers an unknown host, even for an administrator\'s keys', async () => {
    const unknownHost = seen(await ask({ username: names.admin, host: 'nosuchhost' }));
    expect(seen(await ask({ username: names.admin, host: hostC }))).toEqual(unknownHost);
    expect(seen(await ask({ username: names.guarded, host: hostC, fingerprint: fp(key.guarded) }))).toEqual(unknownHost);
    expect(seen(await ask({ username: names.admin, host: hostC }, bearer(token)))).toEqual([200, 'text/plain; charset=utf-8', `${key.admin}\n`]);
  });

  it('hosts without a credential answer as before, with or without one presented', async () => {
    expect((await ask({ username: names.user, host: hostA })).text).toBe(`${key.valid}\n`);
    expect((await ask({ username: names.user, host: hostA }, bearer(token))).text).toBe(`${key.valid}\n`);
  });

  it('a rotation ends the old token; removing the credential lets requests without one in again', async () => {
    const old = token;
    token = await rotateCredential(hostC);
    expect((await ask({ username: names.guarded, host: hostC }, bearer(old))).text).toBe('');
    expect((await ask({ username: names.guarded, host: hostC }, bearer(token))).text).toBe(`${key.guarded}\n`);
    const removed = await http('PUT', `/hosts/${hostC}`, { token: admin, json: { removeCredential: true } });
    expect(removed.status, removed.text).toBe(200);
    expect((await ask({ username: names.guarded, host: hostC })).text).toBe(`${key.guarded}\n`);
    token = await rotateCredential(hostC);
    expect((await ask({ username: names.guarded, host: hostC })).text).toBe('');
  });
});

describe('the shipped auth.sh', () => {
  let dir = '';
  const script = () => path.join(dir, 'auth.sh');
  const env = () => path.join(dir, 'keyper.env');
  const configure = async (lines: string[], mode = 0o644): Promise<void> => {
    await writeFile(env(), `${lines.join('\n')}\n`);
    await chmod(env(), mode);
  };
  const runScript = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run('/bin/sh', [script(), ...args], { env: { PATH: '/usr/bin:/bin' } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'keyper-authsh-'));
    await copyFile(AUTH_SH, script());
    await chmod(script(), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints exactly the keys for the login (%u %f), reading its settings from keyper.env', async () => {
    await configure(['# written by the test', `KEYPER_API_URL="${apiUrl()}"`, `KEYPER_HOSTNAME=${hostA}`]);
    expect(await runScript(names.user, fp(key.valid))).toMatchObject({ code: 0, stdout: `${key.valid}\n` });
    expect(await runScript(names.user)).toMatchObject({ code: 0, stdout: `${key.valid}\n` });
    expect(await runScript(names.user, fp(key.otherHost))).toMatchObject({ code: 0, stdout: '' });
    expect(await runScript(names.locked, fp(key.locked))).toMatchObject({ code: 0, stdout: '' });
  });

  it('fails closed: no output and a non-zero status when the API is unreachable, errors or is not configured', async () => {
    await configure([`KEYPER_API_URL=http://127.0.0.1:1/api`, `KEYPER_HOSTNAME=${hostA}`]);
    const unreachable = await runScript(names.user, fp(key.valid));
    expect(unreachable.stdout).toBe('');
    expect(unreachable.code).not.toBe(0);
    await configure([`KEYPER_API_URL=${apiUrl()}/nosuchroute`, `KEYPER_HOSTNAME=${hostA}`]);
    const notFound = await runScript(names.user);
    expect(notFound.stdout).toBe('');
    expect(notFound.code).not.toBe(0);
    await configure([`KEYPER_HOSTNAME=${hostA}`]);
    const unconfigured = await runScript(names.user);
    expect(unconfigured.stdout).toBe('');
    expect(unconfigured.code).not.toBe(0);
    await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${hostA}`]);
    const noUser = await runScript('');
    expect(noUser.stdout).toBe('');
    expect(noUser.code).not.toBe(0);
  });

  it('sends KEYPER_HOST_TOKEN from keyper.env, which must be readable by no one but owner and group', async () => {
    const token = await rotateCredential(hostC);
    const settings = [`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${hostC}`];
    await configure([...settings, `KEYPER_HOST_TOKEN=${token}`], 0o600);
    expect(await runScript(names.guarded)).toMatchObject({ code: 0, stdout: `${key.guarded}\n` });
    await configure([...settings, `KEYPER_HOST_TOKEN="${token}"`], 0o640);
    expect(await runScript(names.guarded, fp(key.guarded))).toMatchObject({ code: 0, stdout: `${key.guarded}\n` });
    // Without it, or with a wrong one, the host gets no keys (and sshd accepts none).
    await configure(settings, 0o600);
    expect(await runScript(names.guarded)).toMatchObject({ code: 0, stdout: '' });
    await configure([...settings, `KEYPER_HOST_TOKEN=${token.slice(1)}A`], 0o600);
    expect(await runScript(names.guarded)).toMatchObject({ code: 0, stdout: '' });
    // Refused before any request: a token others can read, and one that is not a token.
    for (const [lines, mode, message] of [
      [[...settings, `KEYPER_HOST_TOKEN=${token}`], 0o644, /readable by others/],
      [[...settings, `KEYPER_HOST_TOKEN=${token}`], 0o604, /readable by others/],
      [[...settings, `KEYPER_HOST_TOKEN=${token} x`], 0o600, /KEYPER_HOST_TOKEN/],
      [[...settings, `KEYPER_HOST_TOKEN=${token}\r`], 0o600, /KEYPER_HOST_TOKEN/],
    ] as const) {
      await configure([...lines], mode);
      const result = await runScript(names.guarded);
      expect(result.stdout).toBe('');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
    }
  });

  it('refuses a keyper.env that others could change (it says where keys come from)', async () => {
    for (const mode of [0o646, 0o664, 0o666]) {
      await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${hostA}`], mode);
      const result = await runScript(names.user, fp(key.valid));
      expect(result.stdout, mode.toString(8)).toBe('');
      expect(result.code, mode.toString(8)).toBe(2);
      expect(result.stderr).toMatch(/writable/);
    }
  });

  it('never executes keyper.env', async () => {
    const marker = path.join(dir, 'executed');
    await configure([`KEYPER_API_URL=${apiUrl()}`, `KEYPER_HOSTNAME=${hostA}`, `touch ${marker}`, `KEYPER_TIMEOUT=$(touch ${marker})`]);
    await runScript(names.user);
    await expect(access(marker)).rejects.toThrow();
  });

  describe('talks to the API only over TLS, or plain HTTP to this machine', () => {
    // A listener on every local address (IPv4 and IPv6) counts the connections the script opens:
    // each refused URL below would reach it if the script let curl try.
    let server: Server | undefined;
    let port = 0;
    let connections = 0;
    const served = ed25519Line('served@listener');
    /** What the listener saw of each request: its Authorization header, and the processes whose command line held it. */
    const requests: { authorization: string | undefined; exposedBy: string[] }[] = [];

    beforeAll(async () => {
      server = createServer((request, response) => {
        const authorization = request.headers.authorization;
        const token = authorization?.split(' ')[1];
        // curl is still waiting for this answer: if its command line held the token, it shows now.
        const exposedBy = token === undefined ? [] : processesShowing(token);
        requests.push({ authorization, exposedBy });
        response.end(`${served}\n`);
      });
      server.on('connection', () => void connections++);
      await new Promise<void>((resolve) => server!.listen(0, '::', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server?.close(resolve));
    });

    it.each([
      ['127.0.0.1', () => `http://127.0.0.1:${port}/api`],
      ['localhost', () => `http://localhost:${port}/api`],
      ['[::1]', () => `http://[::1]:${port}/api`],
    ])('accepts http:// to %s', async (_, url) => {
      await configure([`KEYPER_API_URL=${url()}`, `KEYPER_HOSTNAME=${hostA}`]);
      const before = connections;
      expect(await runScript(names.user)).toMatchObject({ code: 0, stdout: `${served}\n` });
      expect(connections).toBe(before + 1);
    });

    it('sends the host token in a header, never on a command line (which every local user can read)', async () => {
      const token = randomBytes(32).toString('base64url');
      await configure([`KEYPER_API_URL=http://127.0.0.1:${port}/api`, `KEYPER_HOSTNAME=${hostA}`, `KEYPER_HOST_TOKEN=${token}`], 0o600);
      requests.length = 0;
      expect(await runScript(names.user)).toMatchObject({ code: 0, stdout: `${served}\n` });
      expect(requests).toEqual([{ authorization: `Bearer ${token}`, exposedBy: [] }]);
    });

    it('accepts https:// to any host (here it reaches the listener, which speaks no TLS, and fails closed)', async () => {
      await configure([`KEYPER_API_URL=https://127.0.0.1:${port}/api`, `KEYPER_HOSTNAME=${hostA}`]);
      const before = connections;
      const result = await runScript(names.user);
      expect(connections).toBe(before + 1);
      expect(result.stdout).toBe('');
      expect(result.code).not.toBe(0);
    });

    it.each([
      ['another loopback address', () => `http://127.0.0.2:${port}/api`],
      ['a short form of 127.0.0.1', () => `http://127.1:${port}/api`],
      ['0.0.0.0', () => `http://0.0.0.0:${port}/api`],
      ['IPv4-mapped IPv6', () => `http://[::ffff:127.0.0.1]:${port}/api`],
      ['this machine by name', () => `http://${hostname()}:${port}/api`],
      ['localhost with a trailing dot', () => `http://localhost.:${port}/api`],
      ['a name under localhost', () => `http://127.0.0.1.localhost:${port}/api`],
      ['127.0.0.1 as user info before another host', () => `http://127.0.0.1:${port}@127.0.0.2:${port}/api`],
      ['localhost as user info before another host', () => `http://localhost@127.0.0.2:${port}/api`],
      ['a port that is not a number', () => `http://127.0.0.1:${port}x/api`],
      ['a query in the authority', () => `http://127.0.0.1?@127.0.0.2:${port}/api`],
      ['an upper-case scheme', () => `HTTPS://127.0.0.1:${port}/api`],
      ['another scheme', () => `ftp://127.0.0.1:${port}/api`],
      ['a file', () => 'file:///etc/passwd'],
      ['no scheme', () => `127.0.0.1:${port}/api`],
    ])('refuses a URL that is neither https:// nor http:// to this machine: %s', async (_, url) => {
      await configure([`KEYPER_API_URL=${url()}`, `KEYPER_HOSTNAME=${hostA}`]);
      const before = connections;
      const result = await runScript(names.user);
      expect(result.stdout).toBe('');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/KEYPER_API_URL must start with https:\/\//);
      expect(connections).toBe(before);
    });
  });
});
