// Entries written by Keyper itself (test/fixtures/keyper-entries.ldif, loaded with ldapadd) are
// listed, shown, updated and deleted without loss: GET → PUT of an unrelated field → GET keeps
// every other stored value byte for byte.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, directoryUrl, env, groupDN, hostDN, http, login, userDN, withManager } from '../helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/keyper-entries.ldif', import.meta.url));
const HOST = 'legacy-db.example.org';
let token = '';

/** Attributes the directory changes on every write: not part of a round trip's comparison. */
const VOLATILE = new Set(['modifytimestamp', 'modifiersname', 'entrycsn']);

/** Every stored value of an entry (user and operational attributes), as raw bytes in base64. */
const rawEntry = async (dn: string): Promise<Record<string, string[]>> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['*', '+'], explicitBufferAttributes: ['*'] });
    const entry = searchEntries[0]!;
    const result: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(entry)) {
      if (name === 'dn' || VOLATILE.has(name.toLowerCase())) continue;
      result[name.toLowerCase()] = [value].flat().map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : Buffer.from(String(v)).toString('base64')));
    }
    return result;
  });

const without = (entry: Record<string, string[]>, attribute: string): Record<string, string[]> =>
  Object.fromEntries(Object.entries(entry).filter(([name]) => name !== attribute.toLowerCase()));

beforeAll(async () => {
  const { LDAP_BIND_DN, LDAP_BIND_PASSWORD } = env();
  await promisify(execFile)('ldapadd', ['-x', '-H', directoryUrl(), '-D', LDAP_BIND_DN!, '-w', LDAP_BIND_PASSWORD!, '-f', FIXTURE]);
  token = (await login('admin', ADMIN_PASSWORD)).access_token;
});

afterAll(async () => {
  // Whatever a failed test left behind.
  await withManager(async (client) => {
    for (const dn of [groupDN('legacy_servers'), groupDN(HOST), hostDN(HOST), userDN('legacy_carol'), userDN('legacy_dave')]) {
      await client.del(dn).catch(() => undefined);
    }
  });
});

describe('Keyper-written entries', () => {
  it('a user with string duration, keys with and without keytype and principals round-trips', async () => {
    const stored = await rawEntry(userDN('legacy_carol'));
    const first = await http('GET', '/users/legacy_carol', { token });
    expect(first.status).toBe(200);
    const [user] = first.body as [Record<string, unknown>];
    expect(user).toMatchObject({
      cn: 'legacy_carol', duration: 30, durationUnit: 'Days', principal: ['carol', 'deploy'], accountLocked: false,
      memberOfs: [groupDN('legacy_servers')],
    });
    // Stored key documents come back as stored, including the one without keytype.
    const storedKeys = stored.sshpublickey!.map((v) => JSON.parse(Buffer.from(v, 'base64').toString()) as Record<string, unknown>);
    expect(user.sshPublicKeys).toEqual(storedKeys);
    expect(storedKeys[1]).not.toHaveProperty('keytype');

    const put = await http('PUT', '/users/legacy_carol', { token, json: { mail: 'carol@new.example.org' } });
    expect(put.status, put.text).toBe(200);
    const after = await rawEntry(userDN('legacy_carol'));
    expect(without(after, 'mail')).toEqual(without(stored, 'mail'));
    expect(after.mail).toEqual([Buffer.from('carol@new.example.org').toString('base64')]);

    const second = await http('GET', '/users/legacy_carol', { token });
    expect(second.body).toEqual([{ ...user, mail: 'carol@new.example.org' }]);
  });

  it('a user locked by Keyper stays locked and unchanged across an update', async () => {
    const stored = await rawEntry(userDN('legacy_dave'));
    const [user] = (await http('GET', '/users/legacy_dave', { token })).body as [Record<string, unknown>];
    expect(user).toMatchObject({ accountLocked: true, pwdAccountLockedTime: '20210101120000Z', duration: 8, durationUnit: 'Hours' });
    expect((await http('PUT', '/users/legacy_dave', { token, json: { givenName: 'David' } })).status).toBe(200);
    const after = await rawEntry(userDN('legacy_dave'));
    expect(without(after, 'givenName')).toEqual(without(stored, 'givenName'));
  });

  it('a host with owners, principals and a certificate round-trips', async () => {
    const stored = await rawEntry(hostDN(HOST));
    const first = await http('GET', `/hosts/${HOST}`, { token });
    expect(first.status, first.text).toBe(200);
    const [host] = first.body as [Record<string, unknown>];
    expect(host).toMatchObject({
      cn: HOST, owners: [userDN('legacy_carol'), userDN('legacy_dave')], principal: ['db', 'db.internal'], duration: 12, durationUnit: 'Weeks',
    });
    expect(host.memberOfs).toEqual(expect.arrayContaining([groupDN(HOST), groupDN('legacy_servers'), groupDN('AllHosts')]));
    expect(host.sshPublicCerts).toEqual(stored.sshpublickey!.map((v) => JSON.parse(Buffer.from(v, 'base64').toString()) as unknown));
    expect((await http('PUT', `/hosts/${HOST}`, { token, json: { description: 'Renamed database server' } })).status).toBe(200);
    const after = await rawEntry(hostDN(HOST));
    expect(without(after, 'description')).toEqual(without(stored, 'description'));
    expect((await http('GET', `/hosts/${HOST}`, { token })).body).toEqual([{ ...host, description: 'Renamed database server' }]);
  });

  it('a group round-trips', async () => {
    const stored = await rawEntry(groupDN('legacy_servers'));
    const [group] = (await http('GET', '/groups/legacy_servers', { token })).body as [Record<string, unknown>];
    expect(group.members).toEqual([userDN('legacy_carol'), userDN('legacy_dave'), hostDN(HOST)]);
    expect((await http('PUT', '/groups/legacy_servers', { token, json: { description: 'Still Keyper servers' } })).status).toBe(200);
    expect(without(await rawEntry(groupDN('legacy_servers')), 'description')).toEqual(without(stored, 'description'));
  });

  it('deletes them with Keyper\'s replies', async () => {
    expect((await http('DELETE', `/hosts/${HOST}`, { token })).body).toBe(`Deleted host: ${HOST}`);
    expect((await http('DELETE', '/users/legacy_dave', { token })).body).toBe('Deleted User: legacy_dave');
    expect((await http('DELETE', '/users/legacy_carol', { token })).body).toBe('Deleted User: legacy_carol');
    expect((await http('DELETE', '/groups/legacy_servers', { token })).body).toBe('Deleted group: legacy_servers');
    const allHosts = (await http('GET', '/groups/AllHosts', { token })).body as [{ members: string[] }];
    expect(allHosts[0].members).not.toContain(hostDN(HOST));
  });
});
