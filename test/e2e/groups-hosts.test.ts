// Groups and hosts end to end over HTTP (serverless-offline → handlers → slapd): a host's own group
// and AllHosts membership appear and disappear with it, groups empty and refill, deletions leave
// every group consistent, and refused requests (protected groups, unknown members, hostile names,
// a host create that fails half way, non-admins) leave the directory exactly as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, groupDN, hostDN, http, login, snapshot, uniqueName, userDN, type Reply } from '../helpers.js';

interface GroupJson {
  dn: string;
  cn: string;
  description?: string;
  members: string[];
}

interface HostJson {
  dn: string;
  cn: string;
  memberOfs: string[];
  owners: string[];
}

let admin = '';
let alice = '';
const cleanups: (() => Promise<unknown>)[] = [];

const as = (token: string) => ({
  get: (path: string): Promise<Reply> => http('GET', path, { token }),
  post: (path: string, json: unknown): Promise<Reply> => http('POST', path, { token, json }),
  put: (path: string, json: unknown): Promise<Reply> => http('PUT', path, { token, json }),
  del: (path: string): Promise<Reply> => http('DELETE', path, { token }),
});

const members = async (name: string): Promise<string[]> => {
  const reply = await as(admin).get(`/groups/${name}`);
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as GroupJson[])[0]!.members;
};

const newHost = async (extra: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('db');
  const reply = await as(admin).post('/hosts', { cn, description: 'e2e host', ...extra });
  expect(reply.status, reply.text).toBe(201);
  cleanups.push(() => as(admin).del(`/hosts/${cn}`));
  return cn;
};

const newGroup = async (groupMembers: string[] = []): Promise<string> => {
  const cn = uniqueName('team');
  const reply = await as(admin).post('/groups', { cn, description: 'e2e group', members: groupMembers });
  expect(reply.status, reply.text).toBe(201);
  cleanups.push(() => as(admin).del(`/groups/${cn}`));
  return cn;
};

beforeAll(async () => {
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;
  alice = (await login('alice', 'alice-demo')).access_token;
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('a host and its groups', () => {
  it('creating a host adds its own group and its AllHosts membership; deleting it removes both', async () => {
    const cn = uniqueName('db1');
    const created = await as(admin).post('/hosts', { cn, description: 'Database server' });
    expect(created.status, created.text).toBe(201);
    expect((created.body as HostJson[])[0]!.memberOfs.sort()).toEqual([groupDN('AllHosts'), groupDN(cn)].sort());

    const own = await as(admin).get(`/groups/${cn}`);
    expect(own.status).toBe(200);
    expect(own.body).toEqual([{ dn: groupDN(cn), cn, description: `${cn} Autocreated Group`, members: [hostDN(cn)] }]);
    expect(await members('AllHosts')).toContain(hostDN(cn));
    const listed = (await as(admin).get('/hosts')).body as HostJson[];
    expect(listed.map((h) => h.cn)).toContain(cn);

    const deleted = await as(admin).del(`/hosts/${cn}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toBe(`Deleted host: ${cn}`);
    expect((await as(admin).get(`/groups/${cn}`)).status).toBe(404);
    expect(await members('AllHosts')).not.toContain(hostDN(cn));
    expect((await as(admin).get(`/hosts/${cn}`)).status).toBe(404);
  });

  it('a host create that fails half way (its group name is taken) leaves the directory exactly as it was', async () => {
    const cn = uniqueName('db');
    const taken = await as(admin).post('/groups', { cn, members: [userDN('bob')] });
    expect(taken.status, taken.text).toBe(201);
    cleanups.push(() => as(admin).del(`/groups/${cn}`));

    const before = await snapshot();
    const reply = await as(admin).post('/hosts', { cn, description: 'never stored', owners: [userDN('alice')] });
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({ msg: `Group ${cn} already exists` });
    expect(await snapshot()).toBe(before);
    expect((await as(admin).get(`/hosts/${cn}`)).status).toBe(404);
    expect(await members(cn)).toEqual([userDN('bob')]);
  });
});

describe('groups', () => {
  it('a group is created, emptied (members: []) and refilled', async () => {
    const cn = await newGroup([userDN('alice'), hostDN('web1')]);
    expect((await members(cn)).sort()).toEqual([hostDN('web1'), userDN('alice')].sort());

    const emptied = await as(admin).put(`/groups/${cn}`, { members: [] });
    expect(emptied.status, emptied.text).toBe(200);
    expect(emptied.body).toEqual([{ dn: groupDN(cn), cn, description: 'e2e group', members: [] }]);
    const listed = (await as(admin).get('/groups')).body as GroupJson[];
    expect(listed.find((g) => g.cn === cn)).toEqual({ dn: groupDN(cn), cn, description: 'e2e group', members: [] });

    const refilled = await as(admin).put(`/groups/${cn}`, { members: [userDN('bob'), hostDN('web2')] });
    expect(refilled.status, refilled.text).toBe(200);
    expect((refilled.body as GroupJson[])[0]!.members.sort()).toEqual([hostDN('web2'), userDN('bob')].sort());

    const bob = (await as(admin).get('/users/bob')).body as { memberOfs: string[] }[];
    expect(bob[0]!.memberOfs).toContain(groupDN(cn));
    const deleted = await as(admin).del(`/groups/${cn}`);
    expect(deleted.body).toBe(`Deleted group: ${cn}`);
    const bobAfter = (await as(admin).get('/users/bob')).body as { memberOfs: string[] }[];
    expect(bobAfter[0]!.memberOfs).not.toContain(groupDN(cn));
  });

  it('deleting a user or a host removes it from every group', async () => {
    const host = await newHost();
    const name = uniqueName('member');
    const password = 'e2e-member-password';
    const shared = await newGroup([hostDN(host), userDN('bob')]);
    const made = await as(admin).post('/users', {
      cn: name, userPassword: password, confirmPassword: password, givenName: 'E2e', sn: 'Member', duration: 1, durationUnit: 'Days',
      memberOfs: [groupDN(shared), groupDN(host), groupDN('demo_servers')],
    });
    expect(made.status, made.text).toBe(201);
    cleanups.push(() => as(admin).del(`/users/${name}`));
    expect(await members(shared)).toEqual(expect.arrayContaining([hostDN(host), userDN(name), userDN('bob')]));

    expect((await as(admin).del(`/users/${name}`)).status).toBe(200);
    for (const group of [shared, host, 'demo_servers']) expect(await members(group)).not.toContain(userDN(name));
    expect((await as(admin).del(`/hosts/${host}`)).status).toBe(200);
    expect(await members(shared)).toEqual([userDN('bob')]);
    expect(await members('AllHosts')).not.toContain(hostDN(host));
  });

  it('KeyperAdmins and AllHosts cannot be deleted, and KeyperAdmins keeps a user', async () => {
    const before = await snapshot();
    for (const name of ['KeyperAdmins', 'AllHosts']) {
      const reply = await as(admin).del(`/groups/${name}`);
      expect(reply.status).toBe(403);
      expect((reply.body as { msg: string }).msg).toMatch(/protected/);
    }
    for (const groupMembers of [[], [hostDN('web1')]]) {
      const reply = await as(admin).put('/groups/KeyperAdmins', { members: groupMembers });
      expect(reply.status).toBe(400);
      expect((reply.body as { msg: string }).msg).toMatch(/KeyperAdmins/);
    }
    expect(await snapshot()).toBe(before);
    expect(await members('KeyperAdmins')).toEqual([userDN('admin')]);
  });

  it('members that do not exist are a 400 naming them, and change nothing', async () => {
    const cn = await newGroup([userDN('alice')]);
    const before = await snapshot();
    const bad = [userDN('nosuchuser'), hostDN('nosuchhost'), groupDN('demo_servers')];
    for (const reply of [
      await as(admin).post('/groups', { cn: uniqueName('bad'), members: [userDN('bob'), ...bad] }),
      await as(admin).put(`/groups/${cn}`, { members: bad }),
    ]) {
      expect(reply.status).toBe(400);
      for (const dn of bad) expect((reply.body as { msg: string }).msg).toContain(dn);
    }
    const owners = await as(admin).post('/hosts', { cn: uniqueName('bad'), owners: [userDN('nosuchuser')] });
    expect(owners.status).toBe(400);
    expect((owners.body as { msg: string }).msg).toContain(userDN('nosuchuser'));
    expect(await snapshot()).toBe(before);
  });
});

describe('versions over HTTP', () => {
  it('GET answers an ETag; PUT with a stale If-Match is a 412 that changes nothing, with the current one a 200', async () => {
    const cn = uniqueName('ver');
    expect((await as(admin).post('/groups', { cn, members: [] })).status).toBe(201);
    cleanups.push(() => as(admin).del(`/groups/${cn}`));
    const seen = (await as(admin).get(`/groups/${cn}`)).headers.etag!;
    expect(seen).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const put = (json: unknown, tag: string) => http('PUT', `/groups/${cn}`, { token: admin, json, headers: { 'if-match': tag } });
    const ok = await put({ description: 'one' }, seen);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.etag).not.toBe(seen);
    const before = await snapshot();
    const stale = await put({ description: 'two' }, seen);
    expect(stale.status, stale.text).toBe(412);
    expect(stale.body).toHaveProperty('msg');
    expect(await snapshot()).toBe(before);
  });
});

describe('refused requests change nothing', () => {
  const hostile = ['*', 'a)(cn=*', 'a,ou=x', '\\', 'a\u0000b', 'x'.repeat(300)];

  it.each(hostile)('the name %j is a 4xx on every groups and hosts route', async (name) => {
    const before = await snapshot();
    const path = encodeURIComponent(name);
    const replies = [
      await as(admin).post('/groups', { cn: name }),
      await as(admin).post('/hosts', { cn: name }),
      await as(admin).get(`/groups/${path}`),
      await as(admin).put(`/groups/${path}`, { members: [] }),
      await as(admin).del(`/groups/${path}`),
      await as(admin).get(`/hosts/${path}`),
      await as(admin).put(`/hosts/${path}`, { description: 'x' }),
      await as(admin).del(`/hosts/${path}`),
    ];
    for (const reply of replies) {
      expect(reply.status, reply.text).toBeGreaterThanOrEqual(400);
      expect(reply.status, reply.text).toBeLessThan(500);
    }
    expect(await snapshot()).toBe(before);
  });

  it('a non-admin gets 403 on every groups and hosts route', async () => {
    const group = await newGroup([userDN('alice')]);
    const host = await newHost({ owners: [userDN('alice')] });
    const before = await snapshot();
    const user = as(alice);
    const replies = [
      await user.get('/groups'),
      await user.get(`/groups/${group}`),
      await user.post('/groups', { cn: uniqueName('mine'), members: [userDN('alice')] }),
      await user.put(`/groups/${group}`, { members: [] }),
      await user.put('/groups/KeyperAdmins', { members: [userDN('admin'), userDN('alice')] }),
      await user.del(`/groups/${group}`),
      await user.get('/hosts'),
      await user.get(`/hosts/${host}`),
      await user.post('/hosts', { cn: uniqueName('mine') }),
      await user.put(`/hosts/${host}`, { description: 'mine' }),
      await user.del(`/hosts/${host}`),
    ];
    for (const reply of replies) {
      expect(reply.status, reply.text).toBe(403);
      expect(reply.body).toHaveProperty('msg');
    }
    expect(await snapshot()).toBe(before);
  });
});
