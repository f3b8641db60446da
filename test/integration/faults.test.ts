// Creating users and hosts when the directory connection fails half-way: dropped before each LDAP
// message in turn, answered with an error, stalled after a write, or stalled past the invocation's
// deadline. Afterwards the directory is as before (answer 5xx) or the change is complete (answer
// 2xx); the undo runs over a fresh connection when the first one is dead. Also the time budget on
// its own: nothing starts without time, and Middy's abort ends an operation in flight; and undo
// paths and guards whose removal a test must notice.
import type { Context } from 'aws-lambda';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { OutOfTimeError } from '../../lib/budget.js';
import { config } from '../../lib/config.js';
import { withDirectory } from '../../lib/directory.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { cutEverywhere, useProxy, type Proxied, type Scenario } from '../cuts.js';
import type { UserJson } from '../../lib/users.js';
import { ADMIN_PASSWORD, baseDN, groupDN, invoke, snapshot, tokenOf, uniqueName, userDN, withManager as withManagerDirect, type Reply } from '../helpers.js';

let admin: string;
let proxied: Proxied;

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  proxied = await useProxy();
});

afterAll(async () => {
  await proxied.restore();
});

const PASSWORD = 'correct horse battery';
const KEY = ed25519Line();

/** A user with everything a create writes: password, lock, two groups (one with the placeholder), a key. */
const fullUser = (cn: string) => ({
  cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Fault', sn: 'Test', duration: 1, durationUnit: 'Days',
  accountLocked: true, memberOfs: [groupDN('demo_servers'), groupDN('web1')],
  sshPublicKeys: [{ name: 'laptop', key: KEY, hostGroups: [groupDN('web1')] }],
});

const createFullUser = (cn: string, context: Partial<Context> = {}): Promise<Reply> =>
  invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json: fullUser(cn) }, context);

const userScenario = (cn: string): Scenario => ({
  send: (context) => createFullUser(cn, context),
  revert: async () => {
    const reply = await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin });
    expect(reply.status, reply.text).toBe(200);
  },
});

const hostScenario = (cn: string): Scenario => ({
  send: (context) => invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn, description: 'fault test', owners: [] } }, context),
  revert: async () => {
    const reply = await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name: cn }, token: admin });
    expect(reply.status, reply.text).toBe(200);
  },
});

describe('a create cut at each LDAP message in turn', () => {
  it('POST /users: entry, password, lock, two groups, a key', async () => {
    const messages = await cutEverywhere(proxied.proxy, userScenario(uniqueName('fu')));
    // add, password, lock, and per group the member and the placeholder: all cut in turn.
    expect(messages.filter((m) => m.write).map((m) => m.operation)).toEqual(['add', 'extended', 'modify', 'modify', 'modify', 'modify', 'modify']);
  });

  it('POST /hosts: entry, own group, AllHosts', async () => {
    const messages = await cutEverywhere(proxied.proxy, hostScenario(uniqueName('fh')));
    expect(messages.filter((m) => m.write).map((m) => m.operation)).toEqual(['add', 'add', 'modify', 'modify']);
  });
});

describe('the invocation\'s time budget', () => {
  it('starts nothing when no time is left, and answers 503', async () => {
    const before = await snapshot();
    proxied.proxy.record();
    const reply = await createFullUser(uniqueName('ft'), { getRemainingTimeInMillis: () => 1000 });
    expect(reply.status, reply.text).toBe(503);
    expect(reply.body).toEqual({ msg: 'Directory unavailable' });
    expect(proxied.proxy.messages()).toEqual([]);
    expect(await snapshot()).toBe(before);
  });

  it('drops the connection when Middy aborts, ending an operation in flight', async () => {
    const slow = await useProxy({ LDAP_TIMEOUT_MS: '600000' });
    try {
      const abort = new AbortController();
      slow.proxy.arm({ kind: 'stall', at: 2 });
      const search = withDirectory((client) => client.search(baseDN(), { scope: 'base' }), undefined, config().ldap, {
        end: Infinity, workEnd: Infinity, signal: abort.signal,
      });
      await expect.poll(() => slow.proxy.fired()).toBe(true);
      abort.abort();
      await expect(search).rejects.toThrow(/Connection closed/);
      // No new operation starts on an aborted request either.
      await expect(withDirectory(async () => undefined, undefined, config().ldap, { end: Infinity, workEnd: Infinity, signal: abort.signal })).rejects.toThrow(OutOfTimeError);
    } finally {
      await slow.restore();
    }
  });
});

describe('undo paths and guards a test must notice', () => {
  const newUser = async (cn: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const reply = await invoke(createUser, {
      method: 'POST', route: '/api/users', token: admin,
      json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'U', sn: 'P', duration: 1, durationUnit: 'Days', ...extra },
    });
    expect(reply.status, reply.text).toBe(201);
  };
  const removeUser = (name: string, token = admin): Promise<Reply> =>
    invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token });

  it('a key addition the directory refuses puts back the key the same request removed, unrevoked', async () => {
    // Two users alike: the first shows which message adds the new key, the second gets it refused.
    const [probe, victim] = [uniqueName('kp'), uniqueName('kp')];
    const oldKeys = [ed25519Line(), ed25519Line()];
    for (const [index, cn] of [probe, victim].entries()) {
      await newUser(cn, { memberOfs: [groupDN('web1')], sshPublicKeys: [{ name: 'old', key: oldKeys[index], hostGroups: [groupDN('web1')] }] });
    }
    const swap = (cn: string) =>
      invoke(updateUser, {
        method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin,
        json: { sshPublicKeys: [{ keyid: 0 }, { name: 'new', key: ed25519Line(), hostGroups: [groupDN('web1')] }] },
      });
    proxied.proxy.record();
    expect((await swap(probe)).status).toBe(200);
    // The key writes are the first two modifies: the old key out, then the new one in.
    const addition = proxied.proxy.messages().findIndex((m, i, all) => m.operation === 'modify' && all.slice(0, i).some((e) => e.operation === 'modify'));
    const before = await snapshot();
    proxied.proxy.arm({ kind: 'error', at: addition + 1 });
    const refused = await swap(victim);
    expect(proxied.proxy.fired()).toBe(true);
    expect(refused.status, refused.text).toBe(500);
    expect(await snapshot()).toBe(before);
    const keys = (await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: victim }, token: admin })).body as UserJson[];
    expect(keys[0]!.sshPublicKeys.map((key) => key.key)).toEqual([oldKeys[1]]);
    for (const cn of [probe, victim]) expect((await removeUser(cn)).status).toBe(200);
  });

  it('deleting the last administrator is refused before anything is written', async () => {
    const cn = uniqueName('last');
    // demo_servers first, so that without the check its membership would be the first write.
    await newUser(cn, { memberOfs: [groupDN('demo_servers')] });
    const put = await invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin, json: { memberOfs: [groupDN('demo_servers'), groupDN('KeyperAdmins')] } });
    expect(put.status, put.text).toBe(200);
    const asLast = await tokenOf(cn, PASSWORD);
    await withManagerDirect((client) => client.modify(groupDN('KeyperAdmins'), [new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [userDN('admin')] }) })]));
    try {
      const before = await snapshot();
      proxied.proxy.record();
      const reply = await removeUser(cn, asLast);
      expect(reply.status, reply.text).toBe(400);
      expect((reply.body as { msg: string }).msg).toMatch(/KeyperAdmins must keep at least one user member/);
      expect(proxied.proxy.messages().filter((m) => m.write)).toEqual([]);
      expect(await snapshot()).toBe(before);
    } finally {
      await withManagerDirect((client) => client.modify(groupDN('KeyperAdmins'), [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [userDN('admin')] }) })]));
    }
    expect((await removeUser(cn)).status).toBe(200);
  });
});
