// Group membership changes that keep groupOfNames valid and administration reachable.
// groupOfNames needs at least one `member`: a group whose last member leaves keeps the placeholder
// member (never shown by the API), which the next real member replaces. Every change is a single
// modify of the values concerned, so concurrent changes to one group do not overwrite each other;
// each is a journal step (lib/writes.ts) with its undo.
import {
  AndFilter,
  Attribute,
  Change,
  EqualityFilter,
  NoSuchAttributeError,
  ObjectClassViolationError,
  OrFilter,
  TypeOrValueExistsError,
  type Client,
  type Control,
  type Filter,
} from 'ldapts';
import { assertion, isAssertionFailed } from './assertion.js';
import { entityDN, normalizeDN, parseEntityDN, sameDN } from './dn.js';
import { childDNs, MAX_OR_TERMS, readEntry, values } from './directory.js';
import { badRequest, conflict } from './errors.js';
import { unique } from './input.js';
import { ADMIN_GROUP, containerDN, type EntityKind, OBJECT_CLASSES, placeholderMember } from './layout.js';
import { UNCHANGED, type Journal } from './writes.js';

const change = (operation: 'add' | 'delete', memberDN: string): Change =>
  new Change({ operation, modification: new Attribute({ type: 'member', values: [memberDN] }) });

export const isPlaceholder = (dn: string, baseDN: string): boolean => sameDN(dn, placeholderMember(baseDN));

/** Members as the API shows them: without the placeholder (only DNs that mention it are normalised). */
export const realMembers = (members: string[], baseDN: string): string[] => {
  const placeholder = normalizeDN(placeholderMember(baseDN));
  return members.filter((dn) => !/placeholder/i.test(dn) || normalizeDN(dn) !== placeholder);
};

/**
 * Whether `memberDN` exists and lists `groupDN` in its memberOf. slapd's memberof overlay fills
 * memberOf only for an entry that exists when it is added to a group: a member deleted meanwhile
 * (and perhaps created again) would be left in `member` without the group in its memberOf.
 */
const listedIn = async (client: Client, memberDN: string, groupDN: string): Promise<boolean> => {
  const member = await readEntry(client, memberDN, ['memberOf']);
  return member !== undefined && values(member, 'memberOf').some((dn) => sameDN(dn, groupDN));
};

/**
 * Puts `memberDN` into a group (no-op if there), dropping the placeholder: idempotent, for undos.
 * A member deleted meanwhile is taken out again, so that no group names an entry that is gone.
 */
export const putMember = async (client: Client, groupDN: string, memberDN: string, baseDN: string): Promise<void> => {
  try {
    await client.modify(groupDN, [change('add', memberDN)]);
  } catch (error) {
    if (!(error instanceof TypeOrValueExistsError)) throw error;
  }
  await dropPlaceholder(client, groupDN, baseDN);
  if (!(await listedIn(client, memberDN, groupDN))) await takeMember(client, groupDN, memberDN, baseDN);
};

const dropPlaceholder = async (client: Client, groupDN: string, baseDN: string): Promise<typeof UNCHANGED | undefined> => {
  try {
    await client.modify(groupDN, [change('delete', placeholderMember(baseDN))]);
    return undefined;
  } catch (error) {
    if (error instanceof NoSuchAttributeError) return UNCHANGED;
    throw error;
  }
};

/**
 * Takes `memberDN` out of a group (no-op if absent), swapping in the placeholder when it was the
 * last member; with `controls`, only if the group matches their assertion. Idempotent.
 */
export const takeMember = async (client: Client, groupDN: string, memberDN: string, baseDN: string, controls: Control[] = []): Promise<typeof UNCHANGED | undefined> => {
  try {
    await client.modify(groupDN, [change('delete', memberDN)], controls);
    return undefined;
  } catch (error) {
    if (error instanceof NoSuchAttributeError) return UNCHANGED;
    if (!(error instanceof ObjectClassViolationError)) throw error;
  }
  // It was the last member: swap in the placeholder in the same modify.
  await client.modify(groupDN, [change('add', placeholderMember(baseDN)), change('delete', memberDN)], controls);
  return undefined;
};

/** Adds `memberDN` to a group as journal steps: the value, then the placeholder out if present. */
export const addMember = async (journal: Journal, groupDN: string, memberDN: string, baseDN: string): Promise<void> => {
  await journal.write(
    `add ${memberDN} to ${groupDN}`,
    async (client) => {
      try {
        await client.modify(groupDN, [change('add', memberDN)]);
        return undefined;
      } catch (error) {
        if (error instanceof TypeOrValueExistsError) return UNCHANGED;
        throw error;
      }
    },
    (client) => takeMember(client, groupDN, memberDN, baseDN),
  );
  // No undo of its own: taking the member out again puts the placeholder back when it is needed.
  await journal.write(`drop the placeholder of ${groupDN}`, (client) => dropPlaceholder(client, groupDN, baseDN));
  // Deleted (or deleted and created again) meanwhile: the membership would be half made.
  if (!(await listedIn(journal.client, memberDN, groupDN))) throw conflict(`${memberDN} changed while it was added to ${groupDN}; try again`);
};

/**
 * Refuses a change that would leave KeyperAdmins without a user member. `field` is the input field
 * the 400 blames: `memberOfs` when a user leaves, `members` when the group's list is replaced.
 */
export const assertAdminsRemain = (groupDN: string, remaining: string[], baseDN: string, field = 'memberOfs'): void => {
  if (!isAdminGroup(groupDN, baseDN)) return;
  if (!remaining.some((dn) => parseEntityDN(dn, baseDN)?.kind === 'user')) throw lastAdmin(field);
};

const isAdminGroup = (groupDN: string, baseDN: string): boolean => sameDN(groupDN, entityDN('group', ADMIN_GROUP, baseDN));

const lastAdmin = (field: string) =>
  badRequest(`${ADMIN_GROUP} must keep at least one user member`, { errors: { [field]: 'would remove the last administrator' } });

/** 400 if removing `memberDN` from this group would leave KeyperAdmins without a user member. */
export const assertCanLeave = async (client: Client, groupDN: string, memberDN: string, baseDN: string, field = 'memberOfs'): Promise<void> => {
  if (!isAdminGroup(groupDN, baseDN)) return;
  const group = await readEntry(client, groupDN, ['member']);
  assertAdminsRemain(groupDN, values(group ?? { dn: groupDN }, 'member').filter((dn) => !sameDN(dn, memberDN)), baseDN, field);
};

/**
 * The assertion that makes leaving KeyperAdmins safe under concurrent requests: the group still
 * has one of the other user members read just now. Two requests removing the last two
 * administrators at once each assert the other's presence; the directory applies one, and the
 * other's assertion fails. Undefined for every other group.
 */
const adminRemains = async (client: Client, groupDN: string, memberDN: string, baseDN: string, field: string): Promise<Filter | undefined> => {
  if (!isAdminGroup(groupDN, baseDN)) return undefined;
  const group = await readEntry(client, groupDN, ['member']);
  const others = values(group ?? { dn: groupDN }, 'member').filter((dn) => !sameDN(dn, memberDN) && parseEntityDN(dn, baseDN)?.kind === 'user');
  if (others.length === 0) throw lastAdmin(field);
  return new OrFilter({ filters: others.map((dn) => new EqualityFilter({ attribute: 'member', value: dn })) });
};

/**
 * Removes `memberDN` from a group as a journal step (no-op if absent), keeping the placeholder
 * when it was the last; from KeyperAdmins only while another user member remains (atomically).
 */
export const removeMember = async (journal: Journal, groupDN: string, memberDN: string, baseDN: string, field = 'memberOfs'): Promise<void> => {
  const remains = await adminRemains(journal.client, groupDN, memberDN, baseDN, field);
  const controls = remains === undefined ? [] : [assertion(OBJECT_CLASSES.group, remains)];
  await journal.write(
    `remove ${memberDN} from ${groupDN}`,
    async (client) => {
      try {
        return await takeMember(client, groupDN, memberDN, baseDN, controls);
      } catch (error) {
        if (isAssertionFailed(error)) throw lastAdmin(field);
        throw error;
      }
    },
    (client) => putMember(client, groupDN, memberDN, baseDN),
  );
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
const existingDNs = async (client: Client, container: string, objectClass: string, names: string[]): Promise<string[]> => {
  // Of the kind's object class too: an entry under ou=groups that is not a groupOfNames is no group.
  const ofClass = new EqualityFilter({ attribute: 'objectClass', value: objectClass });
  const filter =
    names.length <= MAX_OR_TERMS
      ? new AndFilter({ filters: [ofClass, new OrFilter({ filters: names.map((name) => new EqualityFilter({ attribute: 'cn', value: name })) })] })
      : ofClass;
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
    for (const dn of await existingDNs(client, containerDN(kind, baseDN), OBJECT_CLASSES[kind], names)) existing.set(normalizeDN(dn), dn);
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
