// Group membership changes that keep groupOfNames valid and administration reachable.
// groupOfNames needs at least one `member`: a group whose last member leaves keeps the placeholder
// member (never shown by the API), which the next real member replaces. Every change is a single
// modify of the values concerned, so concurrent changes to one group do not overwrite each other.
import {
  Attribute,
  Change,
  EqualityFilter,
  NoSuchAttributeError,
  ObjectClassViolationError,
  OrFilter,
  PresenceFilter,
  TypeOrValueExistsError,
  type Client,
} from 'ldapts';
import { ADMIN_GROUP } from './auth.js';
import { containerDN, entityDN, normalizeDN, parseEntityDN, sameDN, type EntityKind } from './dn.js';
import { childDNs, MAX_OR_TERMS, readEntry, values } from './directory.js';
import { badRequest } from './errors.js';
import { placeholderMember } from './placeholder.js';
import { unique } from './validation.js';

const change = (operation: 'add' | 'delete', memberDN: string): Change =>
  new Change({ operation, modification: new Attribute({ type: 'member', values: [memberDN] }) });

export const isPlaceholder = (dn: string, baseDN: string): boolean => sameDN(dn, placeholderMember(baseDN));

/** Members as the API shows them: without the placeholder (only DNs that mention it are normalised). */
export const realMembers = (members: string[], baseDN: string): string[] => {
  const placeholder = normalizeDN(placeholderMember(baseDN));
  return members.filter((dn) => !/placeholder/i.test(dn) || normalizeDN(dn) !== placeholder);
};

/** Adds `memberDN` to a group (no-op if already there) and drops the placeholder if present. */
export const addMember = async (client: Client, groupDN: string, memberDN: string, baseDN: string): Promise<void> => {
  try {
    await client.modify(groupDN, [change('add', memberDN)]);
  } catch (error) {
    if (!(error instanceof TypeOrValueExistsError)) throw error;
  }
  try {
    await client.modify(groupDN, [change('delete', placeholderMember(baseDN))]);
  } catch (error) {
    if (!(error instanceof NoSuchAttributeError)) throw error;
  }
};

/**
 * Refuses a change that would leave KeyperAdmins without a user member. `field` is the input field
 * the 400 blames: `memberOfs` when a user leaves, `members` when the group's list is replaced.
 */
export const assertAdminsRemain = (groupDN: string, remaining: string[], baseDN: string, field = 'memberOfs'): void => {
  if (!sameDN(groupDN, entityDN('group', ADMIN_GROUP, baseDN))) return;
  if (!remaining.some((dn) => parseEntityDN(dn, baseDN)?.kind === 'user')) {
    throw badRequest(`${ADMIN_GROUP} must keep at least one user member`, { errors: { [field]: 'would remove the last administrator' } });
  }
};

/** 400 if removing `memberDN` from this group would leave KeyperAdmins without a user member. */
export const assertCanLeave = async (client: Client, groupDN: string, memberDN: string, baseDN: string): Promise<void> => {
  if (!sameDN(groupDN, entityDN('group', ADMIN_GROUP, baseDN))) return;
  const group = await readEntry(client, groupDN, ['member']);
  assertAdminsRemain(groupDN, values(group ?? { dn: groupDN }, 'member').filter((dn) => !sameDN(dn, memberDN)), baseDN);
};

/** Removes `memberDN` from a group (no-op if absent), keeping the placeholder when it was the last. */
export const removeMember = async (client: Client, groupDN: string, memberDN: string, baseDN: string): Promise<void> => {
  await assertCanLeave(client, groupDN, memberDN, baseDN);
  try {
    await client.modify(groupDN, [change('delete', memberDN)]);
  } catch (error) {
    if (error instanceof NoSuchAttributeError) return;
    if (!(error instanceof ObjectClassViolationError)) throw error;
    // It was the last member: swap in the placeholder in the same modify.
    await client.modify(groupDN, [change('add', placeholderMember(baseDN)), change('delete', memberDN)]);
  }
};

/** Requested DNs split into the existing entries' DNs (as the directory holds them) and the rest. */
export interface ResolvedDNs {
  /** The directory's own DN of each existing entry, once each, in the order requested. */
  found: string[];
  /** The DNs that name no existing entry of the allowed kinds, as given. */
  missing: string[];
}

/**
 * The DNs of the entries named `names` in a container, as the directory holds them: by an OR of
 * their names when they are few (see MAX_OR_TERMS), else by listing the container's DNs (20,000
 * in about 0.1 s).
 */
const existingDNs = async (client: Client, container: string, names: string[]): Promise<string[]> => {
  const filter =
    names.length <= MAX_OR_TERMS
      ? new OrFilter({ filters: names.map((name) => new EqualityFilter({ attribute: 'cn', value: name })) })
      : new PresenceFilter({ attribute: 'objectClass' });
  return childDNs(client, container, filter);
};

/**
 * Looks up DNs of users, hosts or groups: one search per container, so a list of any length costs
 * at most three searches. DNs that do not parse as `cn=<valid name>,<container>,<base>` of an
 * allowed kind are missing without a lookup.
 */
export const resolveEntities = async (client: Client, dns: string[], kinds: EntityKind[], baseDN: string): Promise<ResolvedDNs> => {
  const named = dns.map((dn) => ({ dn, parsed: parseEntityDN(dn, baseDN) }));
  const existing = new Map<string, string>();
  for (const kind of kinds) {
    const names = unique(named.flatMap(({ parsed }) => (parsed?.kind === kind ? [parsed.name] : [])));
    if (names.length === 0) continue;
    for (const dn of await existingDNs(client, containerDN(kind, baseDN), names)) existing.set(normalizeDN(dn), dn);
  }
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const { dn, parsed } of named) {
    const held = parsed !== undefined && kinds.includes(parsed.kind) ? existing.get(normalizeDN(entityDN(parsed.kind, parsed.name, baseDN))) : undefined;
    if (held === undefined) missing.push(dn);
    else found.set(normalizeDN(held), held);
  }
  return { found: [...found.values()], missing: unique(missing) };
};
