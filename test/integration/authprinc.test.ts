// The public certificate routes, handlers invoked directly against the private slapd: /authprinc
// answers the login name only for an unexpired, unrevoked certificate with that key and serial,
// of an unlocked user, meant for that host (the authkeys rule, administrators pass every host),
// from the query, a form or JSON, and honours a host's credential; /usercert and /hostcert answer
// the unexpired certificate lines, filtered by keyid and fingerprint.
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as authprincHandler } from '../../functions/public/authprinc.js';
import { handler as hostcertHandler } from '../../functions/public/hostcert.js';
import { handler as usercertHandler } from '../../functions/public/usercert.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { revokeKey } from '../../lib/revocations.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { addHost, deleteEntries, patchStoredKey } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, baseDN, groupDN, hostDN, invoke, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';

const PASSWORD = 'correct horse battery';
let admin: string;
const users: string[] = [];
const host = uniqueName('aphost');
const otherHost = uniqueName('apother');

interface Cert {
  keyid: number;
  fingerprint: string;
  serial: string;
  cert: string;
}

const fp = (line: string): string => parsePublicKey(line).fingerprint;
const put = async (name: string, json: unknown): Promise<Cert[]> => {
  const reply = await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json });
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as { sshPublicCerts: Cert[] }[])[0]!.sshPublicCerts;
};

/** A user in the host's group with one certificate for the host's group; returns it. */
const userWithCert = async (extra: Record<string, unknown> = {}): Promise<{ name: string; cert: Cert; line: string }> => {
  const name = uniqueName('ap');
  users.push(name);
  const created = await invoke(createUser, {
    method: 'POST', route: '/api/users', token: admin,
    json: { cn: name, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'A', sn: 'P', duration: 2, durationUnit: 'Hours', memberOfs: [groupDN(host)], ...extra },
  });
  expect(created.status, created.text).toBe(201);
  const line = ed25519Line();
  const [cert] = await put(name, { sshPublicCerts: [{ name: 'laptop', key: line, hostGroups: [groupDN(host)] }] });
  return { name, cert: cert!, line };
};

const authprinc = (query: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> =>
  invoke(authprincHandler, { method: 'GET', route: '/api/authprinc', query, headers });
const ask = (name: string, cert: Cert, overrides: Record<string, string> = {}): Promise<Reply> =>
  authprinc({ username: name, host, fingerprint: cert.fingerprint, serial: cert.serial, ...overrides });

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  await addHost(host);
  await addHost(otherHost);
});

afterAll(async () => {
  for (const name of users) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  await deleteEntries([groupDN(host), hostDN(host), groupDN(otherHost), hostDN(otherHost)]);
});

describe('GET or POST /api/authprinc', () => {
  it('answers the login name for the certificate, by name or by principal, from a query, a form or JSON', async () => {
    const { name, cert } = await userWithCert({ principal: ['deploy-ap'] });
    expect((await ask(name, cert)).text).toBe(`${name}\n`);
    expect((await ask('deploy-ap', cert)).text).toBe('deploy-ap\n');
    const body = new URLSearchParams({ username: name, host, fingerprint: cert.fingerprint, serial: cert.serial }).toString();
    const form = await invoke(authprincHandler, { method: 'POST', route: '/api/authprinc', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.text).toBe(`${name}\n`);
    const json = await invoke(authprincHandler, { method: 'POST', route: '/api/authprinc', json: { username: name, host, fingerprint: cert.fingerprint, serial: cert.serial } });
    expect(json.text).toBe(`${name}\n`);
  });

  it('answers nothing for another serial, key, case, host, an expired certificate or an unknown user', async () => {
    const { name, cert } = await userWithCert();
    const nothing = async (reply: Promise<Reply>): Promise<void> => {
      const answer = await reply;
      expect(answer.status, answer.text).toBe(200);
      expect(answer.text).toBe('');
    };
    await nothing(ask(name, cert, { serial: String(BigInt(cert.serial) ^ 1n) }));
    await nothing(ask(name, cert, { fingerprint: fp(ed25519Line()) }));
    await nothing(ask(name.toUpperCase(), cert));
    await nothing(ask(name, cert, { host: otherHost }));
    await nothing(ask(name, cert, { host: 'no-such-host' }));
    await nothing(ask('nosuchuser', cert));
    await patchStoredKey(name, cert.fingerprint, { dateExpire: '20200101000000' });
    await nothing(ask(name, cert));
  });

  it('lets an administrator in on every host, refuses a user an administrator locked, and a revoked certificate or key', async () => {
    const { name, cert } = await userWithCert({ memberOfs: [groupDN(host), groupDN('KeyperAdmins')] });
    expect((await ask(name, cert, { host: otherHost })).text).toBe(`${name}\n`);
    await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json: { memberOfs: [groupDN(host)] } });

    const locked = await userWithCert();
    expect((await ask(locked.name, locked.cert)).text).toBe(`${locked.name}\n`);
    await put(locked.name, { accountLocked: true });
    expect((await ask(locked.name, locked.cert)).text).toBe('');
    await put(locked.name, { accountLocked: false });
    expect((await ask(locked.name, locked.cert)).text).toBe(`${locked.name}\n`);

    // A revoked serial: the certificate stays on the entry (stored again by hand), and is refused.
    const revoked = await userWithCert();
    const [stored] = await withManager(async (client) => {
      const { searchEntries } = await client.search(userDN(revoked.name), { scope: 'base', attributes: ['sshPublicKey'] });
      return [searchEntries[0]!.sshPublicKey].flat().map(String);
    });
    await put(revoked.name, { sshPublicCerts: [revoked.cert] });
    await withManager((client) => client.modify(userDN(revoked.name), [new Change({ operation: 'add', modification: new Attribute({ type: 'sshPublicKey', values: [stored!] }) })]));
    expect((await ask(revoked.name, revoked.cert)).text).toBe('');

    const keyRevoked = await userWithCert();
    await withManager((client) => revokeKey(client, baseDN(), keyRevoked.cert.fingerprint));
    expect((await ask(keyRevoked.name, keyRevoked.cert)).text).toBe('');
  });

  it('answers a host with a credential only to a request presenting it', async () => {
    const { name, cert } = await userWithCert();
    const rotate = await invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name: host }, token: admin, json: { rotateCredential: true } });
    const token = (rotate.body as { credential: string }[])[0]!.credential;
    try {
      expect((await ask(name, cert)).text).toBe('');
      expect((await authprinc({ username: name, host, fingerprint: cert.fingerprint, serial: cert.serial }, { authorization: `Bearer ${token}` })).text).toBe(`${name}\n`);
    } finally {
      await invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name: host }, token: admin, json: { removeCredential: true } });
    }
  });

  it('400 for missing, malformed or unknown parameters', async () => {
    const fingerprint = fp(ed25519Line());
    const missing = await authprinc({ username: 'alice', host });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ errors: { fingerprint: 'is required', serial: 'is required' } });
    expect((await authprinc({ username: 'alice', host, fingerprint, serial: '-1' })).status).toBe(400);
    expect((await authprinc({ username: 'alice', host, fingerprint, serial: '18446744073709551616' })).status).toBe(400);
    expect((await authprinc({ username: 'alice', host, fingerprint, serial: '1', key: 'x' })).body).toMatchObject({ errors: { key: 'is not a known field' } });
  });
});

describe('GET /api/usercert and /api/hostcert', () => {
  it('answer the unexpired certificate lines, filtered by keyid and fingerprint', async () => {
    const { name, cert } = await userWithCert();
    const second = ed25519Line();
    const certs = await put(name, { sshPublicCerts: [{ name: 'second', key: second, hostGroups: [] }] });
    const other = certs.find((c) => c.fingerprint === fp(second))!;
    const usercert = (query: Record<string, string>) => invoke(usercertHandler, { method: 'GET', route: '/api/usercert', query });
    expect((await usercert({ username: name })).text).toBe(`${cert.cert}\n${other.cert}\n`);
    expect((await usercert({ username: name, keyid: String(other.keyid) })).text).toBe(`${other.cert}\n`);
    expect((await usercert({ username: name, fingerprint: cert.fingerprint })).text).toBe(`${cert.cert}\n`);
    await patchStoredKey(name, cert.fingerprint, { dateExpire: '20200101000000' });
    expect((await usercert({ username: name })).text).toBe(`${other.cert}\n`);
    expect((await usercert({ username: 'nosuchuser' })).text).toBe('');
    expect((await usercert({ username: name.toUpperCase() })).text).toBe('');
    expect((await usercert({ username: name, keyid: 'x' })).status).toBe(400);

    const hostName = uniqueName('hc');
    const hostKey = ed25519Line();
    const created = await invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn: hostName, sshPublicCerts: [{ key: hostKey }] } });
    try {
      const hostCert = (created.body as { sshPublicCerts: Cert[] }[])[0]!.sshPublicCerts[0]!;
      const hostcert = (query: Record<string, string>, headers: Record<string, string> = {}) =>
        invoke(hostcertHandler, { method: 'GET', route: '/api/hostcert', query, headers });
      expect((await hostcert({ hostname: hostName })).text).toBe(`${hostCert.cert}\n`);
      expect((await hostcert({ hostname: hostName, keyid: '101' })).text).toBe('');
      const rotate = await invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name: hostName }, token: admin, json: { rotateCredential: true } });
      const token = (rotate.body as { credential: string }[])[0]!.credential;
      expect((await hostcert({ hostname: hostName })).text).toBe('');
      expect((await hostcert({ hostname: hostName }, { authorization: `Bearer ${token}` })).text).toBe(`${hostCert.cert}\n`);
    } finally {
      await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name: hostName }, token: admin });
    }
  });
});
