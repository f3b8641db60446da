// Requests racing each other, handlers invoked concurrently against the private slapd: each race
// runs 20 times or more, each trial bounded by the test's timeout, and the invariants are checked
// after every trial.
import { setTimeout as sleep } from 'node:timers/promises';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as deleteGroup } from '../../functions/groups/delete.js';
import { handler as readGroupHandler } from '../../functions/groups/get.js';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as getHostHandler } from '../../functions/hosts/get.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUserHandler } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import type { GroupJson } from '../../lib/groups.js';
import { ADMIN_PASSWORD, baseDN, groupDN, hostDN, invoke, snapshot, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';

const PASSWORD = 'correct horse battery';
const TRIALS = 20;
let admin: string;

const memberChange = (operation: 'add' | 'delete', groupName: string, dns: string[]): Promise<void> =>
  withManager((client) => client.modify(groupDN(groupName), [new Change({ operation, modification: new Attribute({ type: 'member', values: dns }) })]));

const members = (groupName: string): Promise<string[]> =>
  withManager(async (client) => {
    const value = (await client.search(groupDN(groupName), { scope: 'base', attributes: ['member'] })).searchEntries[0]?.member;
    return value === undefined ? [] : [value].flat().map(String);
  });

const newUser = async (cn: string, memberOfs: string[] = []): Promise<void> => {
  const reply = await invoke(createUser, {
    method: 'POST', route: '/api/users', token: admin,
    json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'R', sn: 'T', duration: 1, durationUnit: 'Days', memberOfs },
  });
  expect(reply.status, reply.text).toBe(201);
};

const removeUser = (name: string): Promise<Reply> =>
  invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

describe('KeyperAdmins keeps a user member under concurrent removals', () => {
  let carol: string;
  let dave: string;
  let asCarol: string;
  let asDave: string;

  beforeAll(async () => {
    carol = uniqueName('carol');
    dave = uniqueName('dave');
    await newUser(carol, [groupDN('KeyperAdmins')]);
    await newUser(dave, [groupDN('KeyperAdmins')]);
    asCarol = await tokenOf(carol, PASSWORD);
    asDave = await tokenOf(dave, PASSWORD);
    // KeyperAdmins = {carol, dave}.
    await memberChange('delete', 'KeyperAdmins', [userDN('admin')]);
  });

  afterAll(async () => {
    await memberChange('add', 'KeyperAdmins', [userDN('admin')]);
    for (const name of [carol, dave]) expect((await removeUser(name)).status).toBe(200);
  });

  /**
   * After a trial: exactly one of carol and dave is left in KeyperAdmins (the other request was
   * refused, or ran entirely after the first), then both are put back.
   */
  const checkAndRestore = async (replies: Reply[], bothMaySucceed: boolean): Promise<void> => {
    const succeeded = replies.filter((reply) => reply.status === 200);
    const said = replies.map((r) => `${r.status} ${r.text}`).join(' | ');
    for (const reply of replies) expect([200, 400, 403], said).toContain(reply.status);
    if (bothMaySucceed) expect(succeeded.length, said).toBeGreaterThanOrEqual(1);
    else expect(succeeded, said).toHaveLength(1);
    const left = await members('KeyperAdmins');
    expect(left.filter((dn) => dn === userDN(carol) || dn === userDN(dave))).toHaveLength(1);
    const gone = [userDN(carol), userDN(dave)].filter((dn) => !left.includes(dn));
    await memberChange('add', 'KeyperAdmins', gone);
  };

  it(`PUT /users/carol and PUT /users/dave {"memberOfs":[]} at once never both succeed (${TRIALS} trials)`, async () => {
    const leave = (name: string, token: string): Promise<Reply> =>
      invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token, json: { memberOfs: [] } });
    for (let trial = 0; trial < TRIALS; trial += 1) {
      // Both succeeding would leave KeyperAdmins without a user.
      await checkAndRestore(await Promise.all([leave(carol, asDave), leave(dave, asCarol)]), false);
    }
  });

  it(`two PUT /groups/KeyperAdmins keeping one each never both succeed (${TRIALS} trials)`, async () => {
    const keepOnly = (name: string, token: string): Promise<Reply> =>
      invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name: 'KeyperAdmins' }, token, json: { members: [userDN(name)] } });
    for (let trial = 0; trial < TRIALS; trial += 1) {
      // The second may succeed when it runs after the first: it adds its member before removing.
      await checkAndRestore(await Promise.all([keepOnly(carol, asCarol), keepOnly(dave, asDave)]), true);
    }
  });
});

describe('KeyperAdmins keeps a user member under concurrent deletes', () => {
  it(`two administrators deleting each other at once never both succeed (${TRIALS} trials)`, async () => {
    for (let trial = 0; trial < TRIALS; trial += 1) {
      const [one, two] = [uniqueName('vic'), uniqueName('vic')];
      await newUser(one, [groupDN('KeyperAdmins')]);
      await newUser(two, [groupDN('KeyperAdmins')]);
      const [asOne, asTwo] = [await tokenOf(one, PASSWORD), await tokenOf(two, PASSWORD)];
      // KeyperAdmins = {one, two}; deleting a user takes them out of it first, under the assertion.
      await memberChange('delete', 'KeyperAdmins', [userDN('admin')]);
      let survivors: string[] = [];
      try {
        const del = (name: string, token: string): Promise<Reply> =>
          invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token });
        const replies = await Promise.all([del(two, asOne), del(one, asTwo)]);
        const said = replies.map((r) => `${r.status} ${r.text}`).join(' | ');
        for (const reply of replies) expect([200, 400, 401, 403], said).toContain(reply.status);
        expect(replies.filter((reply) => reply.status === 200), said).toHaveLength(1);
        const admins = await members('KeyperAdmins');
        survivors = [one, two].filter((name) => admins.includes(userDN(name)));
        expect(survivors).toHaveLength(1);
      } finally {
        await memberChange('add', 'KeyperAdmins', [userDN('admin')]);
        for (const name of survivors) expect((await removeUser(name)).status).toBe(200);
      }
    }
  });
});

describe('versions: ETag and If-Match', () => {
  const getGroup = (name: string): Promise<Reply> =>
    invoke(readGroupHandler, { method: 'GET', route: '/api/groups/{name}', pathParameters: { name }, token: admin });
  const putGroup = (name: string, json: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
    invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name }, token: admin, json, headers });
  const newGroup = async (members: string[] = []): Promise<string> => {
    const cn = uniqueName('etg');
    const reply = await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn, members } });
    expect(reply.status, reply.text).toBe(201);
    return cn;
  };
  const removeGroup = async (name: string): Promise<void> => {
    expect((await invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name }, token: admin })).status).toBe(200);
  };

  it('GET of a user, a group and a host answers an ETag that changes with the entry, memberOf included', async () => {
    const cn = await newGroup();
    const tagOf = async (reply: Promise<Reply>): Promise<string> => {
      const answered = await reply;
      expect(answered.status, answered.text).toBe(200);
      expect(answered.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      return answered.headers.etag!;
    };
    const user = () => invoke(getUserHandler, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'bob' }, token: admin });
    const host = () => invoke(getHostHandler, { method: 'GET', route: '/api/hosts/{name}', pathParameters: { name: 'web1' }, token: admin });
    const [userTag, groupTag, hostTag] = [await tagOf(user()), await tagOf(getGroup(cn)), await tagOf(host())];
    expect(await tagOf(user())).toBe(userTag);
    // Joining a group changes bob's memberOf only (not his entryCSN), and the group's entry.
    expect((await putGroup(cn, { members: [userDN('bob'), hostDN('web1')] })).status).toBe(200);
    expect(await tagOf(user())).not.toBe(userTag);
    expect(await tagOf(getGroup(cn))).not.toBe(groupTag);
    expect(await tagOf(host())).not.toBe(hostTag);
    await removeGroup(cn);
  });

  it('PUT with If-Match: 412 and nothing written for a stale version; the current one, or *, applies', async () => {
    const cn = await newGroup([userDN('alice')]);
    const seen = (await getGroup(cn)).headers.etag!;
    const first = await putGroup(cn, { description: 'first' }, { 'If-Match': seen });
    expect(first.status, first.text).toBe(200);
    expect(first.headers.etag).not.toBe(seen);
    expect(first.headers.etag).toBe((await getGroup(cn)).headers.etag);
    const before = await snapshot();
    const stale = await putGroup(cn, { description: 'second', members: [userDN('bob')] }, { 'If-Match': seen });
    expect(stale.status, stale.text).toBe(412);
    expect((stale.body as { msg: string }).msg).toMatch(/changed since it was read/);
    expect(await snapshot()).toBe(before);
    expect((await putGroup(cn, { description: 'third' }, { 'If-Match': `"other", ${first.headers.etag!}` })).status).toBe(200);
    expect((await putGroup(cn, { description: 'fourth' }, { 'If-Match': '*' })).status).toBe(200);
    // Keyper's console sends none.
    expect((await putGroup(cn, { description: 'fifth' })).status).toBe(200);
    await removeGroup(cn);
  });

  it('PUT /users and PUT /hosts honour If-Match too', async () => {
    const cn = uniqueName('etu');
    await newUser(cn);
    const seen = (await invoke(getUserHandler, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin })).headers.etag!;
    const put = (json: unknown, tag: string) =>
      invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin, json, headers: { 'If-Match': tag } });
    expect((await put({ sn: 'One' }, seen)).status).toBe(200);
    expect((await put({ sn: 'Two' }, seen)).status).toBe(412);
    expect((await removeUser(cn)).status).toBe(200);
    const hostTag = (await invoke(getHostHandler, { method: 'GET', route: '/api/hosts/{name}', pathParameters: { name: 'web2' }, token: admin })).headers.etag!;
    // Another version's tag: the last character changed (to one it is not: a tag may end in x).
    const otherTag = `${hostTag.slice(0, -2)}${hostTag.at(-2) === 'x' ? 'y' : 'x'}"`;
    const stale = await invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name: 'web2' }, token: admin, json: { description: 'x' }, headers: { 'If-Match': otherTag } });
    expect(stale.status, stale.text).toBe(412);
  });

  it(`of 10 parallel PUTs with the same If-Match, exactly one applies (20 rounds): the check and the write are one`, async () => {
    const cn = await newGroup([userDN('alice')]);
    for (let round = 0; round < 20; round += 1) {
      const seen = (await getGroup(cn)).headers.etag!;
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => putGroup(cn, { description: `writer ${i}` }, { 'If-Match': seen })));
      const statuses = replies.map((reply) => reply.status).sort();
      expect(statuses, replies.map((r) => r.text).join(' | ')).toEqual([200, ...Array<number>(9).fill(412)]);
      const winner = replies.find((reply) => reply.status === 200)!;
      expect((await getGroup(cn)).body).toEqual(winner.body);
    }
    await removeGroup(cn);
  });

  const ROUNDS = 20;
  const WRITERS = 15;
  it(`${WRITERS} parallel PUT /groups/x, each adding one member with If-Match and retrying on 412, keep all ${WRITERS} (${ROUNDS} rounds)`, async () => {
    const names = Array.from({ length: WRITERS }, () => uniqueName('etm'));
    for (const name of names) await newUser(name);
    /** GET, add one member to the list seen, PUT with the version seen; again on 412. */
    const addMe = async (group: string, member: string): Promise<number> => {
      for (let attempt = 1; attempt <= 200; attempt += 1) {
        const read = await getGroup(group);
        const members = (read.body as GroupJson[])[0]!.members;
        const reply = await putGroup(group, { members: [...members, member] }, { 'If-Match': read.headers.etag! });
        if (reply.status === 200) return attempt;
        expect(reply.status, reply.text).toBe(412);
      }
      throw new Error(`${member} never got into ${group}`);
    };
    let conflicts = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const cn = await newGroup();
      const attempts = await Promise.all(names.map((name) => addMe(cn, userDN(name))));
      conflicts += attempts.reduce((sum, n) => sum + n - 1, 0);
      const kept = (await members(cn)).filter((dn) => names.some((name) => dn === userDN(name)));
      expect(kept).toHaveLength(WRITERS);
      await removeGroup(cn);
    }
    // The race was real: writers did meet stale versions.
    expect(conflicts).toBeGreaterThan(0);
    for (const name of names) expect((await removeUser(name)).status).toBe(200);
  });
});

describe('create and delete of one name at once', () => {
  /**
   * Every disagreement between group `member` values and entry `memberOf` values in the
   * directory: a member that does not exist or does not list the group, an entry listing a group
   * that does not have it as member.
   */
  const disagreements = (): Promise<string[]> =>
    withManager(async (client) => {
      const search = async (base: string, attributes: string[]) => (await client.search(base, { scope: 'one', attributes, paged: true })).searchEntries;
      const groups = await search(`ou=groups,${baseDN()}`, ['member']);
      const entries = [...(await search(`ou=people,${baseDN()}`, ['memberOf'])), ...(await search(`ou=Hosts,${baseDN()}`, ['memberOf']))];
      const listOf = (value: unknown): string[] => (value === undefined ? [] : [value].flat().map((v) => String(v).toLowerCase()));
      const memberOf = new Map(entries.map((entry) => [entry.dn.toLowerCase(), listOf(entry.memberOf)]));
      const problems: string[] = [];
      for (const group of groups) {
        for (const member of listOf(group.member)) {
          if (member.startsWith('cn=placeholder,')) continue;
          const listed = memberOf.get(member);
          if (listed === undefined) problems.push(`${group.dn} has ${member}, which does not exist`);
          else if (!listed.includes(group.dn.toLowerCase())) problems.push(`${group.dn} has ${member}, whose memberOf does not list it`);
        }
      }
      const members = new Map(groups.map((group) => [group.dn.toLowerCase(), listOf(group.member)]));
      for (const [dn, groupsOf] of memberOf) {
        for (const group of groupsOf) if (!members.get(group)?.includes(dn)) problems.push(`${dn} lists ${group}, which does not have it as member`);
      }
      return problems;
    });

  const ROUNDS = 35;
  it(`10 creates and 10 deletes of one user at once (${ROUNDS} rounds): memberships agree both ways, no create answers 404`, { timeout: 240_000 }, async () => {
    expect(await disagreements()).toEqual([]);
    const statuses = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round += 1) {
      const cn = uniqueName('cd');
      const create = () =>
        invoke(createUser, {
          method: 'POST', route: '/api/users', token: admin,
          json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'C', sn: 'D', duration: 1, durationUnit: 'Days', memberOfs: [groupDN('demo_servers'), groupDN('web1')] },
        });
      // The deletes spread over the time the creates take, so that they meet them half-way; wider
      // each round, since a loaded machine slows the creates (with a narrow spread every create was
      // cut by a delete, and no round had a create succeed).
      const step = 12 + round * 4;
      const remove = (i: number) => sleep(i * step + Math.random() * step).then(() => removeUser(cn));
      const replies = await Promise.all([
        ...Array.from({ length: 10 }, () => create().then((reply) => ({ kind: 'create', reply }))),
        ...Array.from({ length: 10 }, (_, i) => remove(i).then((reply) => ({ kind: 'delete', reply }))),
      ]);
      for (const { kind, reply } of replies) {
        const key = `${kind} ${reply.status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (kind === 'create') expect([201, 409], `create: ${reply.text}`).toContain(reply.status);
        else expect([200, 404], `delete: ${reply.text}`).toContain(reply.status);
      }
      // refint cleans up after a delete in the background: wait for the directory to settle.
      await expect.poll(disagreements, { timeout: 10_000, interval: 100 }).toEqual([]);
      await removeUser(cn);
      await expect.poll(disagreements, { timeout: 10_000, interval: 100 }).toEqual([]);
    }
    // Both kinds of request did succeed: the race was real.
    expect(statuses.get('create 201'), JSON.stringify([...statuses])).toBeGreaterThan(0);
    expect(statuses.get('delete 200'), JSON.stringify([...statuses])).toBeGreaterThan(0);
  });
});
