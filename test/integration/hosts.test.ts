// The hosts API, handlers invoked directly with real API Gateway v2 events against the private
// slapd: CRUD with the host's own group and AllHosts, all-or-nothing creation, deletion that
// leaves every group valid, owners, validation, hostile names and non-admins. Also users joining
// host groups through memberOfs.
import { createHash } from 'node:crypto';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as deleteGroup } from '../../functions/groups/delete.js';
import { handler as getGroup } from '../../functions/groups/get.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as getHost } from '../../functions/hosts/get.js';
import { handler as listHosts } from '../../functions/hosts/list.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import type { GroupJson } from '../../lib/groups.js';
import type { HostJson } from '../../lib/hosts.js';
import { placeholderMember } from '../../lib/layout.js';
import { ADMIN_PASSWORD, baseDN, groupDN, hostDN, invoke, snapshot, uniqueName, userDN, withManager, type Reply, tokenOf, expectRefusedWithoutChange } from '../helpers.js';



let admin: string;
let alice: string;

const list = (token = admin): Promise<Reply> => invoke(listHosts, { method: 'GET', route: '/api/hosts', token });
const get = (name: string, token = admin): Promise<Reply> =>
  invoke(getHost, { method: 'GET', route: '/api/hosts/{name}', pathParameters: { name }, token });
const create = (json: unknown, token = admin): Promise<Reply> => invoke(createHost, { method: 'POST', route: '/api/hosts', token, json });
const update = (name: string, json: unknown, token = admin): Promise<Reply> =>
  invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name }, token, json });
const remove = (name: string, token = admin): Promise<Reply> =>
  invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name }, token });
const group = async (name: string): Promise<Reply> =>
  invoke(getGroup, { method: 'GET', route: '/api/groups/{name}', pathParameters: { name }, token: admin });

const hostOf = (reply: Reply): HostJson => {
  expect(reply.body, reply.text).toHaveLength(1);
  return (reply.body as HostJson[])[0]!;
};
const membersOf = async (name: string): Promise<string[]> => {
  const reply = await group(name);
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as GroupJson[])[0]!.members;
};

const PASSWORD = 'correct horse battery';
const newUser = (cn: string, extra: Record<string, unknown> = {}) => ({
  cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Host', sn: 'Test', duration: 1, durationUnit: 'Days', ...extra,
});

const hosts: string[] = [];
const users: string[] = [];
const groups: string[] = [];

/** A fresh host (deleted after the file unless a test deletes it). */
const scratch = async (json: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('host');
  const reply = await create({ cn, ...json });
  expect(reply.status, reply.text).toBe(201);
  hosts.push(cn);
  return cn;
};

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  alice = await tokenOf('alice', 'alice-demo');
});

afterAll(async () => {
  for (const cn of hosts) await remove(cn);
  for (const name of users) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  for (const name of groups) await invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name }, token: admin });
});

describe('reading hosts', () => {
  it('lists web1 and web2 in Keyper\'s shape', async () => {
    const reply = await list();
    expect(reply.status).toBe(200);
    const all = reply.body as HostJson[];
    const web1 = all.find((h) => h.cn === 'web1')!;
    expect({ ...web1, memberOfs: [...web1.memberOfs].sort() }).toEqual({
      dn: hostDN('web1'),
      cn: 'web1',
      description: 'Demo web server',
      owners: [],
      memberOfs: [groupDN('AllHosts'), groupDN('demo_servers'), groupDN('web1')].sort(),
      principal: [],
      duration: 1,
      durationUnit: 'Days',
      sshPublicCerts: [],
      hasCredential: false,
    });
    expect(all.map((h) => h.cn)).toContain('web2');
  });

  it('returns one host as a one-element array, and 404 for an unknown one', async () => {
    expect(hostOf(await get('web2')).cn).toBe('web2');
    const missing = await get('nosuchhost');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ msg: 'Host nosuchhost not found' });
  });
});

describe('the CRUD cycle', () => {
  it('creates a host with its own group and AllHosts, updates it, and deletes all of it', async () => {
    const cn = uniqueName('db');
    const made = await create({ cn, description: 'Database', owners: [userDN('alice')], principal: ['db', 'deploy'], duration: '30', durationUnit: 'Weeks' });
    expect(made.status, made.text).toBe(201);
    const host = hostOf(made);
    expect({ ...host, memberOfs: [...host.memberOfs].sort() }).toEqual({
      dn: hostDN(cn),
      cn,
      description: 'Database',
      owners: [userDN('alice')],
      memberOfs: [groupDN('AllHosts'), groupDN(cn)].sort(),
      principal: ['db', 'deploy'],
      duration: 30,
      durationUnit: 'Weeks',
      sshPublicCerts: [],
      hasCredential: false,
    });
    const own = (await group(cn)).body as GroupJson[];
    expect(own).toEqual([{ dn: groupDN(cn), cn, description: `${cn} Autocreated Group`, members: [hostDN(cn)] }]);
    expect(await membersOf('AllHosts')).toContain(hostDN(cn));
    const stored = await withManager(async (client) => (await client.search(hostDN(cn), { scope: 'base', attributes: ['objectClass', 'info'] })).searchEntries[0]!);
    expect([stored.objectClass].flat()).toEqual(expect.arrayContaining(['top', 'device', 'ldapPublicKey', 'extensibleObject']));
    expect(JSON.parse(String(stored.info))).toEqual({ duration: 30, durationUnit: 'Weeks' });

    // owners and principal replace the lists; duration keeps its unit.
    const changed = await update(cn, { description: 'Primary database', owners: [userDN('bob'), userDN('alice')], principal: ['postgres'], duration: 5 });
    expect(changed.status, changed.text).toBe(200);
    expect(hostOf(changed)).toMatchObject({ description: 'Primary database', principal: ['postgres'], duration: 5, durationUnit: 'Weeks' });
    expect(hostOf(changed).owners.sort()).toEqual([userDN('alice'), userDN('bob')].sort());
    const cleared = await update(cn, { owners: [], principal: [], description: null, durationUnit: 'Hours' });
    expect(hostOf(cleared)).toMatchObject({ owners: [], principal: [], duration: 5, durationUnit: 'Hours' });
    expect(hostOf(cleared)).not.toHaveProperty('description');

    // Also in another group: deleting the host takes it out of that one too.
    const other = uniqueName('dbs');
    groups.push(other);
    expect((await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn: other, members: [hostDN(cn), userDN('bob')] } })).status).toBe(201);

    const deleted = await remove(cn);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.body).toBe(`Deleted host: ${cn}`);
    expect((await get(cn)).status).toBe(404);
    expect((await group(cn)).status).toBe(404);
    expect(await membersOf('AllHosts')).not.toContain(hostDN(cn));
    expect(await membersOf(other)).toEqual([userDN('bob')]);
  });

  it('accepts the longest name the directory can hold (242) and refuses one more with a 400', async () => {
    // DNS allows 253, but back-mdb cannot store an RDN of cn= plus 243 characters (it would be a 500).
    const cn = `${uniqueName('h')}${'a'.repeat(56)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}`;
    expect(cn).toHaveLength(242);
    const made = await create({ cn });
    expect(made.status, made.text).toBe(201);
    expect((await group(cn)).status).toBe(200);
    expect((await remove(cn)).status).toBe(200);
    const before = await snapshot();
    const tooLong = await create({ cn: `${cn}e` });
    expect(tooLong.status).toBe(400);
    expect((tooLong.body as { errors: Record<string, string> }).errors).toHaveProperty('cn');
    expect(await snapshot()).toBe(before);
  });

  it('creates a host from a name and a null description (Keyper\'s console), with the default validity', async () => {
    const cn = await scratch({ description: null });
    expect(hostOf(await get(cn))).toEqual({
      dn: hostDN(cn), cn, owners: [], memberOfs: expect.arrayContaining([groupDN(cn), groupDN('AllHosts')]) as unknown as string[],
      principal: [], duration: 1, durationUnit: 'Days', sshPublicCerts: [], hasCredential: false,
    });
  });

  it('deleting a host that was the only member of a group leaves the group empty but valid', async () => {
    const cn = await scratch();
    const lonely = uniqueName('lonely');
    groups.push(lonely);
    expect((await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn: lonely, members: [hostDN(cn)] } })).status).toBe(201);
    expect((await remove(cn)).status).toBe(200);
    expect(await membersOf(lonely)).toEqual([]);
    const stored = await withManager(async (client) => (await client.search(groupDN(lonely), { scope: 'base', attributes: ['member'] })).searchEntries[0]!);
    expect([stored.member].flat()).toEqual([placeholderMember(baseDN())]);
  });

  it('deleting an owning user drops it from the host\'s owners', async () => {
    const owner = uniqueName('owner');
    expect((await invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json: newUser(owner) })).status).toBe(201);
    const cn = await scratch({ owners: [userDN(owner)] });
    expect((await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: owner }, token: admin })).status).toBe(200);
    // The delete takes the user off the hosts it owns before it answers (refint would only do it later).
    expect(hostOf(await get(cn)).owners).toEqual([]);
    const stored = await withManager(async (client) => (await client.search(hostDN(cn), { scope: 'base', attributes: ['owner'] })).searchEntries[0]!);
    expect([stored.owner ?? []].flat()).toEqual([]);
  });

  it('answers 404 to updates and deletes of unknown hosts', async () => {
    const before = await snapshot();
    expect((await update('nosuchhost', { description: 'x' })).status).toBe(404);
    expect((await remove('nosuchhost')).status).toBe(404);
    expect(await snapshot()).toBe(before);
  });
});

describe('all or nothing', () => {
  it('a create whose group step fails (a group of that name exists) is a 409 and leaves the directory as it was', async () => {
    const cn = uniqueName('taken');
    groups.push(cn);
    expect((await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn, members: [userDN('bob')] } })).status).toBe(201);
    const before = await snapshot();
    const reply = await create({ cn, description: 'Collides', owners: [userDN('alice')], principal: ['x'] });
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({ msg: `Group ${cn} already exists` });
    expect(await snapshot()).toBe(before);
    expect((await get(cn)).status).toBe(404);
  });

  it('a create whose last step fails (no AllHosts to join) undoes the group and the entry', async () => {
    const original = await snapshot();
    const allHosts = await withManager(async (client) =>
      (await client.search(groupDN('AllHosts'), { scope: 'base', attributes: ['objectClass', 'cn', 'description', 'member'] })).searchEntries[0]!,
    );
    const attributes = Object.fromEntries(Object.entries(allHosts).filter(([name]) => name !== 'dn'));
    await withManager((client) => client.del(groupDN('AllHosts')));
    try {
      const before = await snapshot();
      const cn = uniqueName('orphan');
      const reply = await create({ cn, owners: [userDN('alice')] });
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(await snapshot()).toBe(before);
      expect((await get(cn)).status).toBe(404);
      expect((await group(cn)).status).toBe(404);
    } finally {
      await withManager((client) => client.add(groupDN('AllHosts'), attributes as Record<string, string | string[]>));
    }
    expect(await snapshot()).toBe(original);
  });

  it('a host that exists already is a 409 and changes nothing', async () => {
    const cn = await scratch();
    const before = await snapshot();
    for (const name of [cn, cn.toUpperCase(), 'web1']) {
      const reply = await create({ cn: name });
      expect(reply.status, name).toBe(409);
      expect(reply.body).toEqual({ msg: `Host ${name} already exists` });
    }
    expect(await snapshot()).toBe(before);
  });

  it.each(['AllHosts', 'KeyperAdmins'])('a host named like the protected group %s is refused and changes nothing', async (cn) => {
    const before = await snapshot();
    const reply = await create({ cn });
    expect(reply.status).toBe(409);
    expect(await snapshot()).toBe(before);
  });
});

describe('validation', () => {
  it('refuses owners that are not existing users, naming them, and changes nothing', async () => {
    const cn = await scratch({ owners: [userDN('bob')] });
    const before = await snapshot();
    const bad = [userDN('nosuchuser'), hostDN('web1'), groupDN('demo_servers'), placeholderMember(baseDN()), `cn=*,ou=people,${baseDN()}`];
    for (const reply of [await create({ cn: uniqueName('own'), owners: [userDN('alice'), ...bad] }), await update(cn, { description: 'x', owners: bad })]) {
      expect(reply.status).toBe(400);
      const body = reply.body as { msg: string; errors: Record<string, string> };
      for (const dn of bad) expect(body.msg).toContain(dn);
      expect(body.errors).toHaveProperty('owners');
    }
    expect(await snapshot()).toBe(before);
  });

  it('accepts duration as digits and refuses out-of-range or non-numeric values', async () => {
    const cn = await scratch();
    expect(hostOf(await update(cn, { duration: '500' })).duration).toBe(500);
    const before = await snapshot();
    for (const duration of ['0', '501', 'abc', '1e2', -1, 2.5, '']) {
      const reply = await update(cn, { duration });
      expect(reply.status, String(duration)).toBe(400);
      expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('duration');
    }
    expect((await update(cn, { durationUnit: 'Years' })).status).toBe(400);
    expect(await snapshot()).toBe(before);
  });

  it('refuses unknown fields, a changed cn and bad principals', async () => {
    const cn = await scratch();
    const before = await snapshot();
    expect((await create({ cn: uniqueName('unk'), memberOfs: [] })).status).toBe(400);
    expect((await create({ cn: uniqueName('unk'), isAdmin: true })).status).toBe(400);
    expect((await update(cn, { cn: 'renamed' })).status).toBe(400);
    expect((await update(cn, { principal: ['a b'] })).status).toBe(400);
    expect((await update(cn, { description: 'a\nb' })).status).toBe(400);
    expect(await snapshot()).toBe(before);
  });
});

describe('hostile names change nothing', () => {
  const hostile = ['*', 'a)(cn=*', 'a,ou=x', '\\', 'a\u0000b', 'x'.repeat(300), 'web1,ou=Hosts', ' web1', '-web', 'a..b', `${'a'.repeat(64)}.org`];

  it.each(hostile)('create with cn %j is a 400', async (cn) => {
    const before = await snapshot();
    const reply = await create({ cn });
    expect(reply.status).toBe(400);
    expect((reply.body as { errors: Record<string, string> }).errors).toHaveProperty('cn');
    expect(await snapshot()).toBe(before);
  });

  it.each(hostile)('get, update and delete of %j are 4xx', async (name) => {
    await expectRefusedWithoutChange(async () => [await get(name), await update(name, { description: 'x' }), await remove(name)]);
  });
});

describe('users in host groups', () => {
  it('memberOfs on user create and update accept host groups', async () => {
    const cn = await scratch();
    const name = uniqueName('ops');
    users.push(name);
    const made = await invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json: newUser(name, { memberOfs: [groupDN(cn)] }) });
    expect(made.status, made.text).toBe(201);
    expect((made.body as { memberOfs: string[] }[])[0]!.memberOfs).toEqual([groupDN(cn)]);
    expect((await membersOf(cn)).sort()).toEqual([hostDN(cn), userDN(name)].sort());

    const moved = await invoke(updateUser, {
      method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json: { memberOfs: [groupDN('web1'), groupDN('web2')] },
    });
    expect(moved.status, moved.text).toBe(200);
    expect((moved.body as { memberOfs: string[] }[])[0]!.memberOfs.sort()).toEqual([groupDN('web1'), groupDN('web2')].sort());
    expect(await membersOf(cn)).toEqual([hostDN(cn)]);
    expect(await membersOf('web1')).toContain(userDN(name));

    // Deleting the host deletes its group; the user's memberOf follows.
    const back = await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json: { memberOfs: [groupDN(cn), groupDN('web1')] } });
    expect(back.status, back.text).toBe(200);
    expect((await remove(cn)).status).toBe(200);
    const after = await withManager(async (client) => (await client.search(userDN(name), { scope: 'base', attributes: ['memberOf'] })).searchEntries[0]!);
    expect([after.memberOf].flat()).toEqual([groupDN('web1')]);
  });
});

describe('non-admins', () => {
  it('get 403 on every hosts route and change nothing', async () => {
    const cn = await scratch({ owners: [userDN('alice')] });
    const before = await snapshot();
    const replies = [
      await list(alice),
      await get(cn, alice),
      await create({ cn: uniqueName('mine') }, alice),
      await update(cn, { description: 'mine now' }, alice),
      await remove(cn, alice),
    ];
    for (const reply of replies) {
      expect(reply.status, reply.text).toBe(403);
      expect(reply.body).toHaveProperty('msg');
    }
    expect(await snapshot()).toBe(before);
  });
});

describe('host credentials', () => {
  const PREFIX = 'urn:keyper:host-credential:sha256:';
  const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
  const FOREIGN_URI = 'https://wiki.example.org/hosts Runbook';
  /** The host's labeledURI values as the directory holds them. */
  const storedURIs = (cn: string): Promise<string[]> =>
    withManager(async (client) => [(await client.search(hostDN(cn), { scope: 'base', attributes: ['labeledURI'] })).searchEntries[0]!.labeledURI ?? []].flat().map(String));
  const stored = async (cn: string): Promise<string[]> => (await storedURIs(cn)).filter((uri) => uri.startsWith(PREFIX));
  const rotate = (cn: string, token = admin) => update(cn, { rotateCredential: true }, token);
  const tokenOfReply = (reply: Reply): string => {
    expect(reply.status, reply.text).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    const { credential } = hostOf(reply) as HostJson & { credential?: string };
    expect(credential).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return credential!;
  };

  it('rotating answers a new token once; the directory keeps only its SHA-256 and other URIs; reads never show either', async () => {
    const cn = await scratch();
    expect(hostOf(await get(cn)).hasCredential).toBe(false);
    await withManager((client) => client.modify(hostDN(cn), [new Change({ operation: 'add', modification: new Attribute({ type: 'labeledURI', values: [FOREIGN_URI] }) })]));

    const first = tokenOfReply(await rotate(cn));
    expect(await stored(cn)).toEqual([`${PREFIX}${sha256(first)}`]);
    // A second rotation replaces the first.
    const second = tokenOfReply(await rotate(cn));
    expect(second).not.toBe(first);
    expect(await stored(cn)).toEqual([`${PREFIX}${sha256(second)}`]);
    expect(await storedURIs(cn)).toContain(FOREIGN_URI);
    for (const reply of [await get(cn), await list()]) {
      expect(reply.text).not.toContain(second);
      expect(reply.text).not.toContain(sha256(second));
      expect(reply.text).not.toContain('credential"');
    }
    expect(hostOf(await get(cn))).toMatchObject({ hasCredential: true });
    expect(hostOf(await get(cn))).not.toHaveProperty('credential');

    // Removing leaves the other URIs; removing again is a no-op.
    const removed = await update(cn, { removeCredential: true });
    expect(removed.status, removed.text).toBe(200);
    expect(hostOf(removed)).toMatchObject({ hasCredential: false });
    expect(hostOf(removed)).not.toHaveProperty('credential');
    expect(await storedURIs(cn)).toEqual([FOREIGN_URI]);
    expect((await update(cn, { removeCredential: true })).status).toBe(200);
    expect(await storedURIs(cn)).toEqual([FOREIGN_URI]);
  });

  it('refuses both actions at once, an action with other fields, non-admins and unknown hosts, changing nothing', async () => {
    const cn = await scratch({ owners: [userDN('alice')] });
    tokenOfReply(await rotate(cn));
    const replies = await (async () => {
      const before = await snapshot();
      const sent = [
        await update(cn, { rotateCredential: true, removeCredential: true }),
        await update(cn, { rotateCredential: true, description: 'x' }),
        await update(cn, { removeCredential: true, owners: [] }),
        await update(cn, { rotateCredential: 'yes' }),
        await rotate(cn, alice),
        await update(cn, { removeCredential: true }, alice),
        await rotate('nosuchhost'),
      ];
      expect(await snapshot()).toBe(before);
      return sent;
    })();
    expect(replies.map((r) => r.status)).toEqual([400, 400, 400, 400, 403, 403, 404]);
    for (const reply of replies) expect(reply.text).not.toMatch(/"credential"/);
  });

  it('two rotations at once leave at most one credential, and it is the token of an answer that succeeded (20 trials each)', async () => {
    const cn = await scratch();
    for (let trial = 0; trial < 20; trial++) {
      // From no credential (both add one) and from an existing one (both replace it).
      for (const start of ['none', 'one'] as const) {
        if (start === 'none') expect((await update(cn, { removeCredential: true })).status).toBe(200);
        else tokenOfReply(await rotate(cn));
        const replies = await Promise.all([rotate(cn), rotate(cn)]);
        for (const reply of replies) expect([200, 409], reply.text).toContain(reply.status);
        const tokens = replies.filter((r) => r.status === 200).map(tokenOfReply);
        const values = await stored(cn);
        expect(values.length, `trial ${trial} from ${start}`).toBe(tokens.length === 0 ? 0 : 1);
        if (tokens.length > 0) expect(tokens.map((token) => `${PREFIX}${sha256(token)}`)).toContain(values[0]);
        if (start === 'one') expect(tokens.length, `trial ${trial}: one of two replacements wins`).toBeGreaterThan(0);
      }
    }
  });
});
