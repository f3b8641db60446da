// Shared by the authkeys and real-sshd tests: hosts and groups written straight into the
// directory (so these tests do not depend on the hosts and groups API), changes to stored key
// values the API cannot make (an expired dateExpire), and the authkeys request itself.
import { Attribute, Change } from 'ldapts';
import { GROUP_OBJECT_CLASSES, HOST_OBJECT_CLASSES, hostGroupDescription } from '../lib/layout.js';
import { DEFAULT_VALIDITY, infoValue } from '../lib/validity.js';
import { groupDN, hostDN, http, userDN, withManager, type Reply } from './helpers.js';

/** A host entry as the hosts API creates it, with its own group of the same name. */
export const addHost = async (name: string): Promise<void> => {
  await withManager(async (client) => {
    await client.add(hostDN(name), {
      objectClass: HOST_OBJECT_CLASSES,
      cn: name,
      description: 'authkeys test host',
      info: infoValue(DEFAULT_VALIDITY),
    });
    await client.add(groupDN(name), { objectClass: GROUP_OBJECT_CLASSES, cn: name, description: hostGroupDescription(name), member: [hostDN(name)] });
  });
};

export const addGroup = (name: string, members: string[]): Promise<void> =>
  withManager((client) => client.add(groupDN(name), { objectClass: GROUP_OBJECT_CLASSES, cn: name, description: 'authkeys test group', member: members }));

/** Deletes entries, ignoring those already gone (cleanup after a failed test). */
export const deleteEntries = (dns: string[]): Promise<void> =>
  withManager(async (client) => {
    for (const dn of dns) await client.del(dn).catch(() => undefined);
  });

/** Rewrites the stored value of one key (found by fingerprint) with `patch` merged in. */
export const patchStoredKey = (user: string, fingerprint: string, patch: Record<string, unknown>): Promise<void> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(userDN(user), { scope: 'base', attributes: ['sshPublicKey'] });
    const raws = [searchEntries[0]?.sshPublicKey ?? []].flat().map(String);
    const raw = raws.find((r) => (JSON.parse(r) as { fingerprint?: string }).fingerprint === fingerprint);
    if (raw === undefined) throw new Error(`no stored key ${fingerprint} on ${user}`);
    const patched = JSON.stringify({ ...(JSON.parse(raw) as object), ...patch });
    await client.modify(userDN(user), [
      new Change({ operation: 'delete', modification: new Attribute({ type: 'sshPublicKey', values: [raw] }) }),
      new Change({ operation: 'add', modification: new Attribute({ type: 'sshPublicKey', values: [patched] }) }),
    ]);
  });

/** Adds raw sshPublicKey values to a user (values the API would refuse). */
export const addStoredValues = (user: string, values: string[]): Promise<void> =>
  withManager((client) => client.modify(userDN(user), [new Change({ operation: 'add', modification: new Attribute({ type: 'sshPublicKey', values }) })]));

/** GET /api/authkeys with these query parameters (no token). */
export const authkeys = (params: Record<string, string>): Promise<Reply> => http('GET', `/authkeys?${new URLSearchParams(params).toString()}`);
