// Every route that writes, cut at each of its LDAP steps in turn (test/cuts.ts): a dropped
// connection, a directory error, a stalled directory, and a deadline reached. Afterwards the
// directory is as it was, or the change is complete (a success, or a failure after the last write).
// Creating users and hosts is in faults.test.ts.
import type { Context } from 'aws-lambda';
import { Attribute, Change, Control, EqualityFilter } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as login } from '../../functions/auth/login.js';
import { handler as logout } from '../../functions/auth/logout.js';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as deleteGroup } from '../../functions/groups/delete.js';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { revocationsDN } from '../../lib/layout.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { cutEverywhere, useProxy, type Proxied } from '../cuts.js';
import { ADMIN_PASSWORD, baseDN, groupDN, hostDN, invoke, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';

let admin: string;
let proxied: Proxied;
const PASSWORD = 'correct horse battery';

const ok = (reply: Reply, status = 200): void => expect(reply.status, reply.text).toBe(status);

const createUserAs = async (cn: string, extra: Record<string, unknown> = {}): Promise<void> =>
  ok(await invoke(createUser, {
    method: 'POST', route: '/api/users', token: admin,
    json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'W', sn: 'T', duration: 1, durationUnit: 'Days', ...extra },
  }), 201);
const removeUser = async (name: string): Promise<void> =>
  ok(await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin }));
const createHostAs = async (cn: string, extra: Record<string, unknown> = {}): Promise<void> =>
  ok(await invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn, description: 'cut test', ...extra } }), 201);
const removeHost = async (name: string): Promise<void> =>
  ok(await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name }, token: admin }));
const putHost = (name: string, json: unknown, context: Partial<Context> = {}): Promise<Reply> =>
  invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name }, token: admin, json }, context);
const removeGroup = async (name: string): Promise<void> =>
  ok(await invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name }, token: admin }));

const valueChange = (operation: 'add' | 'delete' | 'replace', type: string, values: string[]): Change =>
  new Change({ operation, modification: new Attribute({ type, values }) });
/** Changes made directly (not through the proxy), for state the API does not write itself. */
const modifyDirectly = (dn: string, changes: Change[], controls: Control[] = []): Promise<void> =>
  withManager((client) => client.modify(dn, changes, controls));

/** A revocation that expired long ago: every session write prunes it. */
const STALE_REVOCATION = 'urn:keyper:revoked-session:00000000-0000-4000-8000-000000000000:1000';

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  proxied = await useProxy();
});

afterAll(async () => {
  await proxied.restore();
});

describe('users', () => {
  it('PUT /users/{name}: principals, keys out and in, groups (KeyperAdmins too) out and in, password, sessions, lock, attributes', async () => {
    const cn = uniqueName('wu');
    const [oldKey, newKey] = [ed25519Line(), ed25519Line()];
    const setup = async (): Promise<void> => {
      await createUserAs(cn, {
        mail: `${cn}@example.org`,
        principal: [`p-${cn}`],
        memberOfs: [groupDN('KeyperAdmins'), groupDN('demo_servers')],
        sshPublicKeys: [{ name: 'old', key: oldKey, hostGroups: [groupDN('demo_servers')] }],
      });
      await modifyDirectly(userDN(cn), [valueChange('add', 'labeledURI', [STALE_REVOCATION])]);
    };
    await setup();
    const json = {
      mail: `new-${cn}@example.org`, sn: 'Changed', principal: [`p-${cn}`, `q-${cn}`],
      memberOfs: [groupDN('demo_servers'), groupDN('web1')],
      sshPublicKeys: [{ keyid: 0 }, { name: 'new', key: newKey, hostGroups: [groupDN('web1')] }],
      userPassword: 'another secret', confirmPassword: 'another secret', accountLocked: true,
    };
    const messages = await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin, json }, context),
      revert: async () => {
        await removeUser(cn);
        // Removing the old key revoked it for good: only the directory manager can take that back.
        await withManager(async (client) => {
          const revoked = await client.search(revocationsDN(baseDN()), { scope: 'one', filter: new EqualityFilter({ attribute: 'description', value: parsePublicKey(oldKey).fingerprint }) });
          for (const entry of revoked.searchEntries) await client.del(entry.dn);
        });
        await setup();
      },
    });
    expect(messages.filter((m) => m.write).length).toBeGreaterThanOrEqual(10);
    await removeUser(cn);
  });

  it('DELETE /users/{name}: out of groups (KeyperAdmins too), off an owned host, the entry', async () => {
    const cn = uniqueName('wd');
    const host = uniqueName('wdh');
    await createHostAs(host);
    const setup = async (): Promise<void> => {
      await createUserAs(cn, { memberOfs: [groupDN('KeyperAdmins'), groupDN('demo_servers')] });
      ok(await putHost(host, { owners: [userDN(cn)] }));
    };
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin }, context),
      revert: setup,
    });
    await removeUser(cn);
    await removeHost(host);
  });
});

describe('groups', () => {
  it('POST /groups', async () => {
    const cn = uniqueName('wg');
    await cutEverywhere(proxied.proxy, {
      send: (context) =>
        invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn, description: 'd', members: [userDN('alice'), hostDN('web1')] } }, context),
      revert: () => removeGroup(cn),
    });
  });

  it('PUT /groups/{name}: description, a member in, a member out', async () => {
    const cn = uniqueName('wg');
    const setup = async (): Promise<void> =>
      ok(await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn, description: 'one', members: [userDN('alice'), userDN('bob')] } }), 201);
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) =>
        invoke(updateGroup, {
          method: 'PUT', route: '/api/groups/{name}', pathParameters: { name: cn }, token: admin,
          json: { description: 'two', members: [userDN('alice'), hostDN('web1')] },
        }, context),
      revert: async () => {
        await removeGroup(cn);
        await setup();
      },
    });
    await removeGroup(cn);
  });

  it('PUT /groups/KeyperAdmins: an administrator out (under the assertion that another remains)', async () => {
    const cn = uniqueName('wa');
    await createUserAs(cn, { memberOfs: [groupDN('KeyperAdmins')] });
    await cutEverywhere(proxied.proxy, {
      send: (context) =>
        invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name: 'KeyperAdmins' }, token: admin, json: { members: [userDN('admin')] } }, context),
      revert: () => modifyDirectly(groupDN('KeyperAdmins'), [valueChange('add', 'member', [userDN(cn)])]),
    });
    await removeUser(cn);
  });

  it('DELETE /groups/{name}', async () => {
    const cn = uniqueName('wg');
    const setup = async (): Promise<void> =>
      ok(await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn, members: [userDN('alice')] } }), 201);
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name: cn }, token: admin }, context),
      revert: setup,
    });
    await removeGroup(cn);
  });
});

describe('hosts', () => {
  it('PUT /hosts/{name}: description, owners, principals, validity', async () => {
    const cn = uniqueName('wh');
    await createHostAs(cn);
    await cutEverywhere(proxied.proxy, {
      send: (context) => putHost(cn, { description: 'changed', owners: [userDN('alice')], principal: ['deploy'], duration: 3 }, context),
      revert: async () => {
        await removeHost(cn);
        await createHostAs(cn);
      },
    });
    await removeHost(cn);
  });

  it('PUT /hosts/{name}: a certificate out (revoked at the end), one signed and in', async () => {
    const cn = uniqueName('wh');
    const [oldKey, newKey] = [ed25519Line(), ed25519Line()];
    const setup = async (): Promise<void> => {
      await createHostAs(cn);
      ok(await putHost(cn, { sshPublicCerts: [{ name: 'old', key: oldKey }] }));
    };
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) => putHost(cn, { sshPublicCerts: [{ keyid: 100 }, { name: 'new', key: newKey }] }, context),
      revert: async () => {
        await removeHost(cn);
        // The certificate removed was revoked for good, its key with it: only the directory manager can take that back.
        await withManager(async (client) => {
          const revoked = await client.search(revocationsDN(baseDN()), { scope: 'one', filter: new EqualityFilter({ attribute: 'description', value: parsePublicKey(oldKey).fingerprint }) });
          for (const entry of revoked.searchEntries) await client.del(entry.dn);
        });
        await setup();
      },
    });
    await removeHost(cn);
  });

  it('PUT /hosts/{name} rotating a credential', async () => {
    const cn = uniqueName('wh');
    const setup = async (): Promise<void> => {
      await createHostAs(cn);
      ok(await putHost(cn, { rotateCredential: true }));
    };
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) => putHost(cn, { rotateCredential: true }, context),
      revert: async () => {
        await removeHost(cn);
        await setup();
      },
    });
    await removeHost(cn);
  });

  it('DELETE /hosts/{name}: out of its groups, its own group (with a user in it), the entry', async () => {
    const cn = uniqueName('wh');
    const setup = async (): Promise<void> => {
      await createHostAs(cn);
      await modifyDirectly(groupDN(cn), [valueChange('add', 'member', [userDN('alice')])]);
      await modifyDirectly(groupDN('demo_servers'), [valueChange('add', 'member', [hostDN(cn)])]);
    };
    await setup();
    await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name: cn }, token: admin }, context),
      revert: setup,
    });
    await removeHost(cn);
  });
});

describe('sessions and logins', () => {
  let cn: string;
  let token: string;

  beforeAll(async () => {
    cn = uniqueName('ws');
    await createUserAs(cn);
    await modifyDirectly(userDN(cn), [valueChange('add', 'labeledURI', [STALE_REVOCATION])]);
    token = await tokenOf(cn, PASSWORD);
  });

  afterAll(async () => {
    await removeUser(cn);
  });

  const revert = (): Promise<void> => modifyDirectly(userDN(cn), [valueChange('replace', 'labeledURI', [STALE_REVOCATION])]);

  it('DELETE /logout: the revocation, the pruning', async () => {
    await cutEverywhere(proxied.proxy, { send: (context) => invoke(logout, { method: 'DELETE', route: '/api/logout', token }, context), revert });
  });

  it('DELETE /logout?everywhere=true: the new generation, the pruning', async () => {
    await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(logout, { method: 'DELETE', route: '/api/logout', token, query: { everywhere: 'true' } }, context),
      revert,
    });
  });

  it('POST /login lifting a lockout that is over: the lock, the failure count', async () => {
    const relax = new Control('1.3.6.1.4.1.4203.666.5.12', { critical: true });
    // Locked by failed logins long ago: the failure time lies in the lock's second.
    const lockedLongAgo = (): Promise<void> =>
      modifyDirectly(userDN(cn), [valueChange('replace', 'pwdAccountLockedTime', ['20200101000000Z']), valueChange('replace', 'pwdFailureTime', ['20200101000000.123456Z'])], [relax]);
    await lockedLongAgo();
    await cutEverywhere(proxied.proxy, {
      send: (context) => invoke(login, { method: 'POST', route: '/api/login', json: { username: cn, password: PASSWORD } }, context),
      revert: lockedLongAgo,
    });
  });
});
