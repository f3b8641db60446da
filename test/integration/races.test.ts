// Requests racing each other, handlers invoked concurrently against the private slapd: each race
// runs 20 times or more, each trial bounded by the test's timeout, and the invariants are checked
// after every trial.
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { ADMIN_PASSWORD, groupDN, invoke, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';

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
