// The users API, handlers invoked directly with real API Gateway v2 events against the private
// slapd: the whole CRUD cycle, every error status, and hostile input that must change nothing.
import { createServer, type AddressInfo } from 'node:net';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as login } from '../../functions/auth/login.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as listUsers } from '../../functions/users/list.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { reloadConfig } from '../../lib/config.js';
import type { UserJson } from '../../lib/users.js';
import { DEMO_KEY } from '../../scripts/directory.js';
import { ADMIN_PASSWORD, groupDN, invoke, snapshot, uniqueName, userDN, withManager, type Reply, tokenOf, expectRefusedWithoutChange } from '../helpers.js';


let admin: string;

const newUser = (cn: string, extra: Record<string, unknown> = {}) => ({
  cn,
  userPassword: 'correct horse battery',
  confirmPassword: 'correct horse battery',
  givenName: 'Test',
  sn: 'User',
  duration: 2,
  durationUnit: 'Days',
  ...extra,
});

const create = (json: unknown, token = admin): Promise<Reply> => invoke(createUser, { method: 'POST', route: '/api/users', token, json });
const get = (name: string, token = admin): Promise<Reply> =>
  invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name }, token });
const update = (name: string, json: unknown, token = admin): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token, json });
const remove = (name: string, token = admin): Promise<Reply> =>
  invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token });

const created: string[] = [];

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await remove(name);
});

describe('reading users', () => {
  it('lists admin, alice and bob in Keyper\'s shape', async () => {
    const reply = await invoke(listUsers, { method: 'GET', route: '/api/users', token: admin });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/application\/json/);
    const users = reply.body as UserJson[];
    expect(users.map((u) => u.cn)).toEqual(expect.arrayContaining(['admin', 'alice', 'bob']));
    const alice = users.find((u) => u.cn === 'alice')!;
    expect(alice).toMatchObject({
      dn: userDN('alice'),
      uid: 'alice',
      givenName: 'Alice',
      sn: 'Liddell',
      mail: 'alice@keyper.example.org',
      accountLocked: false,
      memberOfs: [groupDN('demo_servers')],
      principal: [],
      duration: 1,
      durationUnit: 'Days',
      // The demo key that opens web1 through demo_servers (README, "Keys, groups and hosts").
      sshPublicKeys: [expect.objectContaining({ keyid: 0, name: DEMO_KEY.name, key: DEMO_KEY.line, hostGroups: [groupDN(DEMO_KEY.group)] })],
      sshPublicCerts: [],
    });
    expect(alice).not.toHaveProperty('userPassword');
    expect(alice).not.toHaveProperty('pwdAccountLockedTime');
  });

  it('returns one user as a one-element array', async () => {
    const reply = await get('bob');
    expect(reply.status).toBe(200);
    expect(reply.body).toHaveLength(1);
    expect((reply.body as UserJson[])[0]!.cn).toBe('bob');
  });

  it('answers 404 with a JSON msg for an unknown user', async () => {
    const reply = await get('nosuchuser');
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({ msg: 'User nosuchuser not found' });
  });
});

describe('the CRUD cycle', () => {
  it('creates, reads, updates (groups, lock, password) and deletes a user', async () => {
    const name = uniqueName('crud');
    const createReply = await create(
      newUser(name, { mail: `${name}@example.org`, displayName: 'Crud Test', memberOfs: [groupDN('demo_servers')], principal: ['deploy'], duration: '30' }),
    );
    expect(createReply.status, createReply.text).toBe(201);
    const [user] = createReply.body as UserJson[];
    expect(user).toMatchObject({
      dn: userDN(name),
      cn: name,
      uid: name,
      displayName: 'Crud Test',
      mail: `${name}@example.org`,
      memberOfs: [groupDN('demo_servers')],
      principal: ['deploy'],
      duration: 30,
      durationUnit: 'Days',
      accountLocked: false,
    });

    // The password is stored hashed by the directory, and works for a bind.
    const stored = await withManager(async (client) => {
      const { searchEntries } = await client.search(userDN(name), { scope: 'base', attributes: ['userPassword', 'pwdAttribute', 'objectClass'] });
      return searchEntries[0]!;
    });
    expect(String(stored.userPassword)).toMatch(/^\{SSHA\}/);
    expect(stored.objectClass).toEqual(expect.arrayContaining(['inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject']));
    await tokenOf(name, 'correct horse battery');

    // Groups: memberOfs is the complete new list.
    const groups = await update(name, { memberOfs: [groupDN('web1')], sn: 'Renamed' });
    expect(groups.status, groups.text).toBe(200);
    expect((groups.body as UserJson[])[0]).toMatchObject({ sn: 'Renamed', memberOfs: [groupDN('web1')] });
    const demo = await withManager(async (client) => (await client.search(groupDN('demo_servers'), { scope: 'base', attributes: ['member'] })).searchEntries[0]!);
    expect([demo.member].flat()).not.toContain(userDN(name));

    // Lock sets pwdAccountLockedTime; unlock removes it.
    const locked = await update(name, { accountLocked: true });
    expect((locked.body as UserJson[])[0]).toMatchObject({ accountLocked: true, pwdAccountLockedTime: '000001010000Z' });
    const unlocked = await update(name, { accountLocked: false });
    expect((unlocked.body as UserJson[])[0]!.accountLocked).toBe(false);
    expect((unlocked.body as UserJson[])[0]).not.toHaveProperty('pwdAccountLockedTime');

    // New password works, the old one does not.
    expect((await update(name, { userPassword: 'another secret', confirmPassword: 'another secret' })).status).toBe(200);
    await tokenOf(name, 'another secret');
    expect((await invoke(login, { method: 'POST', route: '/api/login', json: { username: name, password: 'correct horse battery' } })).status).toBe(401);

    // Delete answers Keyper's JSON string and removes the user from every group.
    const deleted = await remove(name);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toBe(`Deleted User: ${name}`);
    expect((await get(name)).status).toBe(404);
    const web1 = await withManager(async (client) => (await client.search(groupDN('web1'), { scope: 'base', attributes: ['member'] })).searchEntries[0]!);
    expect([web1.member].flat()).not.toContain(userDN(name));
  });

  it('refuses to create a user twice (409) and to delete admin (403)', async () => {
    const name = uniqueName('dup');
    created.push(name);
    expect((await create(newUser(name))).status).toBe(201);
    const before = await snapshot();
    const again = await create(newUser(name));
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ msg: 'Already exists' });
    const protectedDelete = await remove('admin');
    expect(protectedDelete.status).toBe(403);
    expect((protectedDelete.body as { msg: string }).msg).toMatch(/protected/);
    expect(await snapshot()).toBe(before);
  });

  it('answers 404 to updates and deletes of unknown users', async () => {
    expect((await update('nosuchuser', { sn: 'x' })).status).toBe(404);
    expect((await remove('nosuchuser')).status).toBe(404);
  });
});

describe('validation', () => {
  it('lists every failing field in one 400 and changes nothing', async () => {
    const before = await snapshot();
    const reply = await create({ cn: 'Bad Name', userPassword: 'short', confirmPassword: 'other', duration: 0, durationUnit: 'Years', mail: 'not-mail' });
    expect(reply.status).toBe(400);
    const body = reply.body as { msg: string; errors: Record<string, string> };
    expect(Object.keys(body.errors).sort()).toEqual(['cn', 'duration', 'durationUnit', 'givenName', 'mail', 'sn', 'userPassword'].sort());
    expect(body.msg).toMatch(/^Invalid input: /);
    expect(body.errors.givenName).toBe('is required');
    expect(await snapshot()).toBe(before);
  });

  it('requires confirmPassword to equal userPassword', async () => {
    const reply = await create(newUser(uniqueName('pw'), { confirmPassword: 'something else' }));
    expect(reply.status).toBe(400);
    expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('confirmPassword');
  });

  it('accepts duration as digits and refuses out-of-range or non-numeric strings', async () => {
    for (const duration of ['0', '501', 'abc', '1e2', -1, 2.5]) {
      const reply = await create(newUser(uniqueName('dur'), { duration }));
      expect(reply.status, String(duration)).toBe(400);
      expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('duration');
    }
  });

  it('refuses memberOfs that are not existing groups, naming them', async () => {
    const before = await snapshot();
    const bad = [groupDN('nosuchgroup'), userDN('alice'), 'cn=demo_servers,ou=groups,dc=evil,dc=org'];
    const reply = await create(newUser(uniqueName('grp'), { memberOfs: [groupDN('demo_servers'), ...bad] }));
    expect(reply.status).toBe(400);
    for (const dn of bad) expect((reply.body as { msg: string }).msg).toContain(dn);
    expect(await snapshot()).toBe(before);
  });

  it('refuses unknown fields and a changed cn', async () => {
    expect((await create(newUser(uniqueName('unk'), { isAdmin: true }))).status).toBe(400);
    const reply = await update('bob', { cn: 'robert' });
    expect(reply.status).toBe(400);
  });
});

describe('hostile names and bodies change nothing', () => {
  const hostile = ['*', 'alice)(cn=*', 'a,ou=people', '\\', 'a\u0000b', 'x'.repeat(300), 'admin,ou=people,dc=keyper,dc=example,dc=org', ' alice'];

  it.each(hostile)('create with cn %j is a 400', async (cn) => {
    const before = await snapshot();
    const reply = await create(newUser(cn));
    expect(reply.status).toBe(400);
    expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('cn');
    expect(await snapshot()).toBe(before);
  });

  it.each(hostile)('get, update and delete of %j are 4xx', async (name) => {
    await expectRefusedWithoutChange(async () => [await get(name), await update(name, { sn: 'x' }), await remove(name)]);
  });

  it('hostile field values are 400s', async () => {
    const before = await snapshot();
    for (const extra of [{ sn: 'a\u0000b' }, { givenName: 'x'.repeat(300) }, { mail: 'a@b.c\n' }, { principal: ['a b'] }, { memberOfs: ['*'] }]) {
      const reply = await create(newUser(uniqueName('hv'), extra));
      expect(reply.status, JSON.stringify(extra)).toBe(400);
    }
    expect(await snapshot()).toBe(before);
  });

  it('a non-JSON body is a 400, a wrong content type a 415, each with a JSON msg', async () => {
    const before = await snapshot();
    const broken = await invoke(createUser, { method: 'POST', route: '/api/users', token: admin, body: '{"cn": ', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.body).toEqual({ msg: 'Invalid or malformed JSON was provided' });
    const form = await invoke(createUser, { method: 'POST', route: '/api/users', token: admin, body: 'cn=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect(form.body).toEqual({ msg: 'Unsupported Media Type' });
    expect(await snapshot()).toBe(before);
  });
});

describe('failures half way', () => {
  it('refuses memberOfs naming an entry under ou=groups that is not a group, before any write', async () => {
    // An entry under ou=groups that is not a groupOfNames: it exists, but would refuse `member`.
    const odd = uniqueName('odd');
    await withManager((client) =>
      client.add(groupDN(odd), { objectClass: ['top', 'organizationalRole'], cn: odd }),
    );
    const before = await snapshot();
    const name = uniqueName('half');
    const reply = await create(newUser(name, { memberOfs: [groupDN('demo_servers'), groupDN(odd)] }));
    expect(reply.status).toBe(400);
    expect((reply.body as { msg: string }).msg).toContain(groupDN(odd));
    expect(await snapshot()).toBe(before);
    await withManager((client) => client.del(groupDN(odd)));
  });

  it('refuses an update whose memberOfs name an entry that is not a group: 400 naming it, nothing written', async () => {
    // Reproduction: bob's mail was changed and he joined web2 although the request answered 500.
    const odd = uniqueName('odd');
    await withManager((client) => client.add(groupDN(odd), { objectClass: ['top', 'organizationalRole'], cn: odd }));
    const before = await snapshot();
    const reply = await update('bob', { mail: 'bob@elsewhere.example.org', memberOfs: [groupDN('demo_servers'), groupDN('web2'), groupDN(odd)] });
    expect(reply.status, reply.text).toBe(400);
    expect((reply.body as { msg: string }).msg).toContain(groupDN(odd));
    expect(await snapshot()).toBe(before);
    await withManager((client) => client.del(groupDN(odd)));
  });

  it('answers 503 "Directory unavailable" when the directory cannot be reached', async () => {
    const url = process.env.LDAP_URL;
    process.env.LDAP_URL = 'ldap://127.0.0.1:1';
    reloadConfig();
    try {
      const reply = await get('alice');
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ msg: 'Directory unavailable' });
    } finally {
      process.env.LDAP_URL = url;
      reloadConfig();
    }
  });

  it('answers 503 when the directory accepts connections but never answers (operation timeout)', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const saved = { url: process.env.LDAP_URL, timeout: process.env.LDAP_TIMEOUT_MS };
    process.env.LDAP_URL = `ldap://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    process.env.LDAP_TIMEOUT_MS = '300';
    reloadConfig();
    try {
      const started = Date.now();
      const reply = await get('alice');
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ msg: 'Directory unavailable' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      Object.assign(process.env, { LDAP_URL: saved.url, LDAP_TIMEOUT_MS: saved.timeout });
      reloadConfig();
      silent.close();
    }
  });

  it('reads a user whose info is not JSON with the default validity', async () => {
    const name = uniqueName('txt');
    created.push(name);
    expect((await create(newUser(name))).status).toBe(201);
    await withManager((client) =>
      client.modify(userDN(name), [new Change({ operation: 'replace', modification: new Attribute({ type: 'info', values: ['not json'] }) })]),
    );
    const reply = await get(name);
    expect(reply.status).toBe(200);
    expect((reply.body as UserJson[])[0]).toMatchObject({ duration: 1, durationUnit: 'Days' });
  });
});
