// The groups API, handlers invoked directly with real API Gateway v2 events against the private
// slapd: CRUD, emptying and refilling (the placeholder never shows), DN normalisation, protected
// groups, unknown members, hostile names and non-admins, each refusal proven to change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as deleteGroup } from '../../functions/groups/delete.js';
import { handler as getGroup } from '../../functions/groups/get.js';
import { handler as listGroups } from '../../functions/groups/list.js';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import type { GroupJson } from '../../lib/groups.js';
import { placeholderMember } from '../../lib/layout.js';
import { ADMIN_PASSWORD, baseDN, groupDN, hostDN, invoke, snapshot, uniqueName, userDN, withManager, type Reply, tokenOf, expectRefusedWithoutChange } from '../helpers.js';


let admin: string;
let alice: string;

const list = (token = admin): Promise<Reply> => invoke(listGroups, { method: 'GET', route: '/api/groups', token });
const get = (name: string, token = admin): Promise<Reply> =>
  invoke(getGroup, { method: 'GET', route: '/api/groups/{name}', pathParameters: { name }, token });
const create = (json: unknown, token = admin): Promise<Reply> => invoke(createGroup, { method: 'POST', route: '/api/groups', token, json });
const update = (name: string, json: unknown, token = admin): Promise<Reply> =>
  invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name }, token, json });
const remove = (name: string, token = admin): Promise<Reply> =>
  invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name }, token });

const groupOf = (reply: Reply): GroupJson => {
  expect(reply.body, reply.text).toHaveLength(1);
  return (reply.body as GroupJson[])[0]!;
};

/** The `member` values exactly as the directory holds them (placeholder included). */
const storedMembers = async (name: string): Promise<string[]> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(groupDN(name), { scope: 'base', attributes: ['member'] });
    return [searchEntries[0]?.member ?? []].flat().map(String);
  });

const memberOf = async (dn: string): Promise<string[]> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['memberOf'] });
    return [searchEntries[0]?.memberOf ?? []].flat().map(String);
  });

const created: string[] = [];
/** A fresh group, deleted after the file. */
const scratch = async (json: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('grp');
  const reply = await create({ cn, ...json });
  expect(reply.status, reply.text).toBe(201);
  created.push(cn);
  return cn;
};

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  alice = await tokenOf('alice', 'alice-demo');
});

afterAll(async () => {
  for (const cn of created) await remove(cn);
});

describe('reading groups', () => {
  it('lists the seeded groups in Keyper\'s shape, members always present and never the placeholder', async () => {
    const reply = await list();
    expect(reply.status).toBe(200);
    const groups = reply.body as GroupJson[];
    expect(groups.map((g) => g.cn)).toEqual(expect.arrayContaining(['KeyperAdmins', 'AllHosts', 'demo_servers', 'web1', 'web2']));
    for (const group of groups) {
      expect(Array.isArray(group.members), group.cn).toBe(true);
      expect(group.members).not.toContain(placeholderMember(baseDN()));
      expect(group.dn).toBe(groupDN(group.cn));
    }
    expect(groups.find((g) => g.cn === 'demo_servers')).toEqual({
      dn: groupDN('demo_servers'),
      cn: 'demo_servers',
      description: 'Demo servers',
      members: [userDN('alice'), userDN('bob'), hostDN('web1')],
    });
    expect(groups.find((g) => g.cn === 'AllHosts')!.members).toEqual(expect.arrayContaining([hostDN('web1'), hostDN('web2')]));
    expect(groups.find((g) => g.cn === 'web1')).toMatchObject({ description: 'web1 Autocreated Group', members: [hostDN('web1')] });
  });

  it('returns one group as a one-element array, and 404 for an unknown one', async () => {
    expect(groupOf(await get('KeyperAdmins'))).toMatchObject({ cn: 'KeyperAdmins', members: [userDN('admin')] });
    const missing = await get('nosuchgroup');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ msg: 'Group nosuchgroup not found' });
  });
});

describe('the CRUD cycle', () => {
  it('creates, updates, empties, refills and deletes a group, keeping memberOf in step', async () => {
    const cn = uniqueName('crud');
    const createReply = await create({ cn, description: 'CRUD test', members: [userDN('alice'), hostDN('web1')] });
    expect(createReply.status, createReply.text).toBe(201);
    expect(groupOf(createReply)).toEqual({ dn: groupDN(cn), cn, description: 'CRUD test', members: [userDN('alice'), hostDN('web1')] });
    expect(await memberOf(userDN('alice'))).toContain(groupDN(cn));
    expect(await memberOf(hostDN('web1'))).toContain(groupDN(cn));

    // members replaces the list: alice and web1 leave, bob joins.
    const replaced = await update(cn, { description: 'Renamed', members: [userDN('bob')] });
    expect(replaced.status, replaced.text).toBe(200);
    expect(groupOf(replaced)).toEqual({ dn: groupDN(cn), cn, description: 'Renamed', members: [userDN('bob')] });
    expect(await memberOf(userDN('alice'))).not.toContain(groupDN(cn));
    expect(await memberOf(hostDN('web1'))).not.toContain(groupDN(cn));
    expect(await memberOf(userDN('bob'))).toContain(groupDN(cn));

    // Emptied: the directory holds only the placeholder, the API shows [].
    const emptied = await update(cn, { members: [] });
    expect(emptied.status, emptied.text).toBe(200);
    expect(groupOf(emptied)).toEqual({ dn: groupDN(cn), cn, description: 'Renamed', members: [] });
    expect(await storedMembers(cn)).toEqual([placeholderMember(baseDN())]);
    expect(groupOf(await get(cn)).members).toEqual([]);
    expect((await list()).body as GroupJson[]).toContainEqual({ dn: groupDN(cn), cn, description: 'Renamed', members: [] });

    // Refilled: the placeholder goes as soon as a real member arrives.
    const refilled = await update(cn, { members: [hostDN('web2'), userDN('alice')] });
    expect(refilled.status, refilled.text).toBe(200);
    expect(groupOf(refilled).members.sort()).toEqual([hostDN('web2'), userDN('alice')].sort());
    expect((await storedMembers(cn)).sort()).toEqual([hostDN('web2'), userDN('alice')].sort());

    // A description of null (what Keyper's console sends for an empty field) removes it.
    const cleared = await update(cn, { description: null });
    expect(groupOf(cleared)).not.toHaveProperty('description');

    const deleted = await remove(cn);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toBe(`Deleted group: ${cn}`);
    expect((await get(cn)).status).toBe(404);
    expect(await memberOf(userDN('alice'))).not.toContain(groupDN(cn));
    expect(await memberOf(hostDN('web2'))).not.toContain(groupDN(cn));
  });

  it('creates a group without members around the placeholder, and without a description', async () => {
    const cn = await scratch({ description: null });
    expect(groupOf(await get(cn))).toEqual({ dn: groupDN(cn), cn, members: [] });
    expect(await storedMembers(cn)).toEqual([placeholderMember(baseDN())]);
  });

  it('compares member DNs as LDAP does and stores them as the directory holds them', async () => {
    const cn = await scratch();
    const base = baseDN().toUpperCase();
    const reply = await update(cn, {
      members: [`CN=Alice,OU=People,${base}`, ` cn = alice , ou = people , ${baseDN()}`, `cn=WEB1,ou=hosts,${base}`],
    });
    expect(reply.status, reply.text).toBe(200);
    expect(groupOf(reply).members.sort()).toEqual([userDN('alice'), hostDN('web1')].sort());
    expect((await storedMembers(cn)).sort()).toEqual([userDN('alice'), hostDN('web1')].sort());

    // The same list in other spellings is no change at all.
    const before = await snapshot();
    const again = await update(cn, { members: [userDN('alice').toUpperCase(), hostDN('web1')] });
    expect(again.status, again.text).toBe(200);
    expect(await snapshot()).toBe(before);
  });

  it('refuses a second group of the same name (409), in any case, and changes nothing', async () => {
    const cn = await scratch();
    const before = await snapshot();
    for (const name of [cn, cn.toUpperCase(), 'KeyperAdmins']) {
      const reply = await create({ cn: name });
      expect(reply.status, name).toBe(409);
      expect(reply.body).toEqual({ msg: `Group ${name} already exists` });
    }
    expect(await snapshot()).toBe(before);
  });

  it('answers 404 to updates and deletes of unknown groups', async () => {
    const before = await snapshot();
    expect((await update('nosuchgroup', { description: 'x' })).status).toBe(404);
    expect((await remove('nosuchgroup')).status).toBe(404);
    expect(await snapshot()).toBe(before);
  });
});

describe('consistency with users', () => {
  it('deleting a user removes it from every group, leaving an emptied group valid', async () => {
    const shared = await scratch({ members: [userDN('bob')] });
    const own = await scratch();
    const name = uniqueName('gone');
    const password = 'correct horse battery';
    const made = await invoke(createUser, {
      method: 'POST',
      route: '/api/users',
      token: admin,
      json: { cn: name, userPassword: password, confirmPassword: password, givenName: 'G', sn: 'One', duration: 1, durationUnit: 'Days', memberOfs: [groupDN(shared), groupDN(own)] },
    });
    expect(made.status, made.text).toBe(201);
    expect(groupOf(await get(own)).members).toEqual([userDN(name)]);

    const deleted = await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
    expect(deleted.status, deleted.text).toBe(200);
    expect(groupOf(await get(shared)).members).toEqual([userDN('bob')]);
    expect(groupOf(await get(own)).members).toEqual([]);
    expect(await storedMembers(own)).toEqual([placeholderMember(baseDN())]);
  });
});

describe('protected groups', () => {
  it.each(['KeyperAdmins', 'AllHosts', 'keyperadmins', 'ALLHOSTS'])('DELETE %s is a 403 and changes nothing', async (name) => {
    const before = await snapshot();
    const reply = await remove(name);
    expect(reply.status).toBe(403);
    expect((reply.body as { msg: string }).msg).toMatch(/protected/);
    expect(await snapshot()).toBe(before);
  });

  it('KeyperAdmins cannot be left without a user member (400) and nothing changes', async () => {
    const before = await snapshot();
    for (const members of [[], [hostDN('web1')], [placeholderMember(baseDN())]]) {
      for (const name of ['KeyperAdmins', 'keyperadmins']) {
        const reply = await update(name, { members, description: 'changed' });
        expect(reply.status, `${name} ${JSON.stringify(members)}`).toBe(400);
        expect((reply.body as { msg: string }).msg).toBeTruthy();
      }
    }
    expect(groupOf(await get('KeyperAdmins')).members).toEqual([userDN('admin')]);
    expect(await snapshot()).toBe(before);
  });

  it('KeyperAdmins may change as long as a user stays', async () => {
    const reply = await update('KeyperAdmins', { members: [userDN('admin'), hostDN('web1')] });
    expect(reply.status, reply.text).toBe(200);
    expect(groupOf(reply).members.sort()).toEqual([userDN('admin'), hostDN('web1')].sort());
    const back = await update('KeyperAdmins', { members: [userDN('admin')] });
    expect(groupOf(back).members).toEqual([userDN('admin')]);
  });
});

describe('members that do not exist', () => {
  const bad = (): string[] => [
    userDN('nosuchuser'),
    hostDN('nosuchhost'),
    groupDN('demo_servers'),
    placeholderMember(baseDN()),
    'cn=alice,ou=people,dc=evil,dc=org',
    `cn=alice+uid=alice,ou=people,${baseDN()}`,
    `cn=*,ou=people,${baseDN()}`,
    '*',
    '',
  ];

  it('a create naming them is a 400 that names every one, and changes nothing', async () => {
    const before = await snapshot();
    const reply = await create({ cn: uniqueName('bad'), members: [userDN('alice'), ...bad()] });
    expect(reply.status).toBe(400);
    const body = reply.body as { msg: string; errors: Record<string, string> };
    for (const dn of bad().filter((dn) => dn !== '')) expect(body.msg).toContain(dn);
    expect(body.msg).not.toContain(userDN('alice'));
    expect(body.errors).toHaveProperty('members');
    expect(await snapshot()).toBe(before);
  });

  it('an update naming them is a 400 and changes nothing', async () => {
    const cn = await scratch({ members: [userDN('bob')] });
    const before = await snapshot();
    const reply = await update(cn, { description: 'changed', members: [userDN('alice'), userDN('nosuchuser')] });
    expect(reply.status).toBe(400);
    expect((reply.body as { msg: string }).msg).toContain(userDN('nosuchuser'));
    expect(await snapshot()).toBe(before);
  });
});

describe('hostile names and bodies change nothing', () => {
  const hostile = ['*', 'a)(cn=*', 'a,ou=x', '\\', 'a\u0000b', 'x'.repeat(300), 'KeyperAdmins,ou=groups', ' demo_servers', '-x', '.x'];

  it.each(hostile)('create with cn %j is a 400', async (cn) => {
    const before = await snapshot();
    const reply = await create({ cn, members: [userDN('alice')] });
    expect(reply.status).toBe(400);
    expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('cn');
    expect(await snapshot()).toBe(before);
  });

  it.each(hostile)('get, update and delete of %j are 4xx', async (name) => {
    await expectRefusedWithoutChange(async () => [await get(name), await update(name, { members: [] }), await remove(name)]);
  });

  it('unknown fields, a changed cn and bad field values are 400s', async () => {
    const cn = await scratch();
    const before = await snapshot();
    for (const json of [
      { cn: uniqueName('unk'), owner: [] },
      { cn: uniqueName('unk'), description: 'a\u0000b' },
      { cn: uniqueName('unk'), description: 'x'.repeat(1025) },
      { cn: uniqueName('unk'), members: 'cn=alice' },
      { cn: uniqueName('unk'), members: ['x'.repeat(2000)] },
    ]) {
      expect((await create(json)).status, JSON.stringify(json).slice(0, 80)).toBe(400);
    }
    expect((await update(cn, { cn: 'renamed' })).status).toBe(400);
    expect((await update(cn, { memberOfs: [] })).status).toBe(400);
    expect(await snapshot()).toBe(before);
  });
});

describe('non-admins', () => {
  it('get 403 on every groups route and change nothing', async () => {
    const cn = await scratch({ members: [userDN('alice')] });
    const before = await snapshot();
    const replies = [
      await list(alice),
      await get(cn, alice),
      await get('demo_servers', alice),
      await create({ cn: uniqueName('mine') }, alice),
      await update(cn, { members: [] }, alice),
      await update('KeyperAdmins', { members: [userDN('admin'), userDN('alice')] }, alice),
      await remove(cn, alice),
    ];
    for (const reply of replies) {
      expect(reply.status, reply.text).toBe(403);
      expect(reply.body).toHaveProperty('msg');
    }
    expect(await snapshot()).toBe(before);
  });

  it('get 401 without a token', async () => {
    const reply = await invoke(listGroups, { method: 'GET', route: '/api/groups' });
    expect(reply.status).toBe(401);
  });
});
