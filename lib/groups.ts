// Groups: the mapping between groupOfNames entries under ou=groups and the API's JSON, the input
// schemas, the pure entry builder, and the small `*Group` operations the handlers call.
// Members are existing users and hosts only, written as the directory holds their DNs; an empty
// group holds the placeholder member (lib/layout.ts), which no response ever shows.
import { AlreadyExistsError, type Client, type Entry } from 'ldapts';
import { present } from './input.js';
import { GROUP_OBJECT_CLASSES, isProtectedGroup, OBJECT_CLASSES, placeholderMember } from './layout.js';
import * as z from './zod.js';
import { value, values } from './directory.js';
import { diffDNs, entityDN, GROUP_NAME, MAX_NAME_LENGTH } from './dn.js';
import { badRequest, conflict, forbidden } from './errors.js';
import { assertNameUnchanged, readEntity } from './entities.js';
import { requireVersion, VERSION_ATTRIBUTE } from './etags.js';
import type { ListSpec } from './listing.js';
import { addMember, assertAdminsRemain, realMembers, removeMember, resolveEntities } from './membership.js';
import { descriptionField, memberList } from './validation.js';
import { addEntry, allOrNothing, deleteLast, replace, restoring, type Journal } from './writes.js';

export const GROUP_ATTRIBUTES = ['cn', 'description', 'member', VERSION_ATTRIBUTE];

export interface GroupJson {
  dn: string;
  cn: string;
  description?: string;
  /** Always present (Keyper's console reads it unconditionally); [] for an empty group. */
  members: string[];
}

export const toGroupJson = (entry: Entry, baseDN: string): GroupJson => {
  const description = value(entry, 'description');
  return {
    dn: entry.dn,
    cn: value(entry, 'cn') ?? '',
    ...present('description', description),
    members: realMembers(values(entry, 'member'), baseDN),
  };
};

// Built on first use (z.lazy): most functions importing this module never parse a group, and
// building a schema costs every cold start.
export const GroupCreateSchema = /* @__PURE__ */ z.lazy(() =>
  z.strictObject({
    cn: z.string().check(z.regex(GROUP_NAME, `must be a group name: letters, digits, _ . - (at most ${MAX_NAME_LENGTH}, not starting with . or -)`)),
    description: z.optional(descriptionField()),
    members: z._default(memberList, []),
  }),
);
export type GroupCreate = z.infer<typeof GroupCreateSchema>;

export const GroupUpdateSchema = /* @__PURE__ */ z.lazy(() =>
  z.strictObject({
    cn: z.optional(z.string()),
    description: z.optional(descriptionField()),
    members: z.optional(memberList),
  }),
);
export type GroupUpdate = z.infer<typeof GroupUpdateSchema>;

/** A new group's attributes; with no members it holds the placeholder (groupOfNames needs one). */
export const buildGroupEntry = (
  name: string,
  groupDescription: string | null | undefined,
  members: string[],
  baseDN: string,
): Record<string, string | string[]> => ({
  objectClass: GROUP_OBJECT_CLASSES,
  cn: name,
  ...present('description', groupDescription),
  member: members.length > 0 ? members : [placeholderMember(baseDN)],
});

// ---- operations (one directory connection, passed in by the handler) ----

export const groupDN = (name: string, baseDN: string): string => entityDN('group', name, baseDN);

export const readGroup = (client: Client, name: string, baseDN: string): Promise<Entry> => readEntity(client, 'group', name, baseDN, GROUP_ATTRIBUTES);

/** How GET /api/groups lists groups (lib/listing.ts); ?q= matches a name prefix. */
export const groupList = (baseDN: string): ListSpec => ({
  kind: 'group', attributes: GROUP_ATTRIBUTES, searchable: ['cn'], toJson: (entry) => toGroupJson(entry, baseDN),
});

/** The members as the directory holds their DNs; 400 naming those that are not existing users or hosts. */
export const resolveMembers = async (client: Client, dns: string[], baseDN: string): Promise<string[]> => {
  const { found, missing } = await resolveEntities(client, dns, ['user', 'host'], baseDN);
  if (missing.length > 0) {
    throw badRequest(`Unknown members: ${missing.join('; ')}`, { errors: { members: `not existing users or hosts: ${missing.join('; ')}` } });
  }
  return found;
};

/** Adds a group entry as a journal step; a name already taken is a 409 that names it. */
export const addGroupEntry = async (journal: Journal, name: string, attributes: Record<string, string | string[]>, baseDN: string): Promise<void> => {
  try {
    await addEntry(journal, groupDN(name, baseDN), OBJECT_CLASSES.group, attributes);
  } catch (error) {
    if (error instanceof AlreadyExistsError) throw conflict(`Group ${name} already exists`);
    throw error;
  }
};

/** Creates a group; every member is checked before the one write. */
export const createGroup = async (client: Client, input: GroupCreate, baseDN: string): Promise<Entry> => {
  const members = await resolveMembers(client, input.members, baseDN);
  return allOrNothing(client, async (journal) => {
    await addGroupEntry(journal, input.cn, buildGroupEntry(input.cn, input.description, members, baseDN), baseDN);
    return readGroup(journal.client, input.cn, baseDN);
  });
};

/**
 * Updates description and members, all or nothing; with If-Match, only the version the client
 * read. `members` is the complete new list: the difference is applied one value at a time (adds first, so the group is never empty on the way
 * and no concurrent change to other members is overwritten). Everything is validated before the
 * first write.
 */
export const updateGroup = async (client: Client, name: string, input: GroupUpdate, baseDN: string, ifMatch?: string[]): Promise<Entry> => {
  assertNameUnchanged(input.cn, name);
  const current = await readGroup(client, name, baseDN);
  requireVersion(client, current, OBJECT_CLASSES.group, `Group ${name}`, ifMatch);
  const dn = current.dn;
  let add: string[] = [];
  let remove: string[] = [];
  if (input.members !== undefined) {
    const wanted = await resolveMembers(client, input.members, baseDN);
    assertAdminsRemain(dn, wanted, baseDN, 'members');
    ({ add, remove } = diffDNs(realMembers(values(current, 'member'), baseDN), wanted));
  }
  const changes = input.description === undefined ? [] : [replace('description', input.description === null ? [] : [input.description])];
  return allOrNothing(client, async (journal) => {
    if (changes.length > 0) await journal.write(`modify ${dn}`, (c) => c.modify(dn, changes), (c) => c.modify(dn, restoring(current, changes)));
    for (const member of add) await addMember(journal, dn, member, baseDN);
    for (const member of remove) await removeMember(journal, dn, member, baseDN, 'members');
    return readGroup(journal.client, name, baseDN);
  });
};

/** Deletes a group; memberof drops it from its members' memberOf. KeyperAdmins and AllHosts stay. */
export const deleteGroup = async (client: Client, name: string, baseDN: string): Promise<void> => {
  if (isProtectedGroup(name)) throw forbidden(`Group ${name} is protected and cannot be deleted`);
  const current = await readGroup(client, name, baseDN);
  await allOrNothing(client, (journal) => deleteLast(journal, current.dn));
};
