// Login names and principals are one namespace: sshd matches a login or a certificate principal
// against both, and /api/authkeys finds a user by either. So no user may take (ignoring case, as
// the directory compares) another user's name or principal. The directory has no uniqueness
// constraint across attributes and entries, so a claim is written first and then checked, and
// withdrawn when another user holds the name too (as lib/keys.ts does for keyids).
import { Attribute, Change, EqualityFilter, NoSuchAttributeError, OrFilter, type Client } from 'ldapts';
import { searchChildren, value, values } from './directory.js';
import { sameDN } from './dn.js';
import { apiError } from './errors.js';
import { containerDN } from './layout.js';
import { undo } from './writes.js';

/** One of `names` that another user holds as login name or principal, and that user's name. */
export interface Claim {
  name: string;
  owner: string;
}

const lower = (name: string): string => name.toLowerCase();

/** Users whose cn or pseudonym equals one of the names (LDAP equality ignores case for both). */
const holdersFilter = (names: string[]): OrFilter =>
  new OrFilter({
    filters: names.flatMap((name) => [new EqualityFilter({ attribute: 'cn', value: name }), new EqualityFilter({ attribute: 'pseudonym', value: name })]),
  });

/** The first of `names` that a user other than `ownDN` holds, if any. */
export const findClaim = async (client: Client, names: string[], ownDN: string, baseDN: string): Promise<Claim | undefined> => {
  if (names.length === 0) return undefined;
  const holders = await searchChildren(client, containerDN('user', baseDN), holdersFilter(names), ['cn', 'pseudonym']);
  for (const entry of holders) {
    if (sameDN(entry.dn, ownDN)) continue;
    const held = new Set([...values(entry, 'cn'), ...values(entry, 'pseudonym')].map(lower));
    const name = names.find((candidate) => held.has(lower(candidate))) ?? names[0] ?? '';
    return { name, owner: value(entry, 'cn') ?? entry.dn };
  }
  return undefined;
};

/** 409 naming the owner (and, in `errors`, the request field that asked for the name). */
export const claimConflict = (claim: Claim, field: string) =>
  apiError(409, `${claim.name} is already the name or a principal of user ${claim.owner}`, {
    errors: { [field]: `${claim.name} belongs to user ${claim.owner}` },
  });

/** 409 when a user other than `ownDN` holds one of the names. */
export const assertUnclaimed = async (client: Client, names: string[], ownDN: string, baseDN: string, field: string): Promise<void> => {
  const claim = await findClaim(client, names, ownDN, baseDN);
  if (claim !== undefined) throw claimConflict(claim, field);
};

/** The principals of `wanted` the user does not hold yet (the directory compares ignoring case). */
export const addedPrincipals = (current: string[], wanted: string[]): string[] => {
  const held = new Set(current.map(lower));
  return [...new Map(wanted.filter((name) => !held.has(lower(name))).map((name) => [lower(name), name])).values()];
};

const pseudonymChange = (operation: 'add' | 'delete', names: string[]): Change =>
  new Change({ operation, modification: new Attribute({ type: 'pseudonym', values: names }) });

/** Takes principals off the user `dn` value by value: one already gone (a concurrent change) is not an error. */
export const withdrawPrincipals = async (client: Client, dn: string, names: string[]): Promise<void> => {
  for (const name of names) {
    try {
      await client.modify(dn, [pseudonymChange('delete', [name])]);
    } catch (error) {
      if (!(error instanceof NoSuchAttributeError)) throw error;
    }
  }
};

/**
 * Adds principals to the user `dn`, safely against a concurrent claim of the same name: refuse a
 * name someone holds already (nothing written), add the values, then look again; if another user
 * holds one of them now, delete ours and refuse. Of two racing claims each looks after its own
 * write, so the later write is seen by at least one of them: both may lose, never both win.
 * Returns the step that withdraws the claim, for a later step's failure.
 */
export const claimPrincipals = async (client: Client, dn: string, added: string[], baseDN: string): Promise<() => Promise<void>> => {
  const withdraw = (): Promise<void> => withdrawPrincipals(client, dn, added);
  if (added.length === 0) return async () => undefined;
  await assertUnclaimed(client, added, dn, baseDN, 'principal');
  await client.modify(dn, [pseudonymChange('add', added)]);
  let claim: Claim | undefined;
  try {
    claim = await findClaim(client, added, dn, baseDN);
  } catch (error) {
    await undo(`principals of ${dn}`, withdraw);
    throw error;
  }
  if (claim !== undefined) {
    await undo(`principals of ${dn}`, withdraw);
    throw claimConflict(claim, 'principal');
  }
  return withdraw;
};
