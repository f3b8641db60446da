// Users: the mapping between directory entries (Keyper's layout) and the API's JSON, the input
// schemas, and the pure builders of entries and modifications. No I/O here but in the
// `*User` operations at the end, which lib's handlers call; they write keys (lib/keys.ts),
// certificates (lib/certs.ts) and passwords (lib/passwords.ts) through those modules.
import { Change, EqualityFilter, type Client, type Entry } from 'ldapts';
import * as z from './zod.js';
import { allOf, firstOf, readAttributes, searchChildren, value, values } from './directory.js';
import { diffDNs, entityDN, USER_NAME } from './dn.js';
import { assertNameUnchanged, deletedMeanwhile, readCreated, readEntity } from './entities.js';
import { containerDN, isProtectedUser, OBJECT_CLASSES, USER_OBJECT_CLASSES } from './layout.js';
import { requireVersion, VERSION_ATTRIBUTE } from './etags.js';
import type { ListSpec } from './listing.js';
import { badRequest, forbidden } from './errors.js';
import { LOCK_ATTRIBUTES, lockChanges, lockFacts, lockState, RELAX_RULES, UNLOCKED } from './locks.js';
import { addMember, assertCanLeave, removeMember, resolveEntities } from './membership.js';
import { changePassword, MAX_PASSWORD_LENGTH, password, PASSWORD_STATE, setPassword } from './passwords.js';
import {
  applyKeyPlan,
  assertNotRevoked,
  expiryAfter,
  initialKeyValues,
  keyChanges,
  planKeyChanges,
  splitStoredKeys,
  storedValues,
  type NewKey,
  type StoredKey,
} from './keys.js';
import type { CertificateAuthorities } from './cakeys.js';
import { applyCertPlan, certJson, initialCertValues, planCertChanges, signKeys, userCertChanges, type NewCert } from './certs.js';
import { addedPrincipals, claimConflict, claimPrincipals, findClaim, withdrawPrincipals } from './principals.js';
import { present, unique } from './input.js';
import { dnList, principals, textField } from './validation.js';
import { duration, durationUnit, infoValue, parseInfo, updatedInfo, updatedValidity, validitySeconds, type Validity } from './validity.js';
import { addEntry, addValue, allOrNothing, deleteLast, deleteValue, deleteValues, droppedIgnoringCase, replace, respell, respellings, restoring, type Journal } from './writes.js';

/** Attributes read for a user response (operational ones must be named). */
export const USER_ATTRIBUTES = [
  'cn', 'uid', 'sn', 'givenName', 'displayName', 'mail', ...LOCK_ATTRIBUTES, 'memberOf', 'pseudonym', 'info', 'sshPublicKey', VERSION_ATTRIBUTE,
];

export interface UserJson {
  dn: string;
  cn: string;
  uid: string;
  sn: string;
  givenName: string;
  displayName?: string;
  mail?: string;
  /** Either lock (unticking clears both); lockReason says which. */
  accountLocked: boolean;
  lockReason?: 'administrator' | 'failures';
  pwdAccountLockedTime?: string;
  memberOfs: string[];
  principal: string[];
  duration: number;
  durationUnit: Validity['durationUnit'];
  sshPublicKeys: StoredKey[];
  sshPublicCerts: StoredKey[];
}

/** One pass over the entry's attributes (readAttributes) and one parse of each stored key: lists map thousands. */
export const toUserJson = (entry: Entry): UserJson => {
  const attributes = readAttributes(entry);
  const lockedTime = firstOf(attributes, 'pwdaccountlockedtime');
  const lock = lockedTime === undefined ? 'none' : lockState(lockFacts(entry));
  const keys = splitStoredKeys(attributes.get('sshpublickey') ?? []);
  const { duration, durationUnit } = parseInfo(firstOf(attributes, 'info'));
  const cn = firstOf(attributes, 'cn') ?? '';
  return {
    dn: entry.dn,
    cn,
    uid: firstOf(attributes, 'uid') ?? cn,
    sn: firstOf(attributes, 'sn') ?? '',
    givenName: firstOf(attributes, 'givenname') ?? '',
    ...present('displayName', firstOf(attributes, 'displayname')),
    ...present('mail', firstOf(attributes, 'mail')),
    accountLocked: lock !== 'none',
    ...present('lockReason', lock === 'none' ? undefined : lock),
    ...present('pwdAccountLockedTime', lockedTime),
    memberOfs: allOf(attributes, 'memberof'),
    principal: allOf(attributes, 'pseudonym'),
    duration,
    durationUnit,
    sshPublicKeys: keys.plain,
    sshPublicCerts: keys.certs.map(certJson),
  };
};

// Built on first use by the two schemas below (z.lazy): most functions importing this module (get,
// list, delete, login...) never parse a user, and building these schemas costs every cold start.
const buildUserFields = () => ({
  userPassword: password,
  confirmPassword: z.string().check(z.maxLength(MAX_PASSWORD_LENGTH)),
  givenName: textField(100),
  sn: textField(100),
  displayName: textField(200),
  mail: z.string().check(z.trim(), z.maxLength(254, 'must be at most 254 characters'), z.email('must be an email address')),
  duration,
  durationUnit,
  accountLocked: z.boolean(),
  memberOfs: dnList,
  principal: principals,
  sshPublicKeys: keyChanges,
  sshPublicCerts: userCertChanges,
});

const passwordsMatch = (input: { userPassword?: string; confirmPassword?: string }): boolean =>
  input.userPassword === undefined || input.userPassword === input.confirmPassword;
const PASSWORD_MISMATCH = { message: 'must equal userPassword', path: ['confirmPassword'] };

export const UserCreateSchema = /* @__PURE__ */ z.lazy(() => {
  const userFields = buildUserFields();
  return z.strictObject({
    cn: z.string().check(z.regex(USER_NAME, 'must be a Linux login name: a-z, 0-9, _ . - (at most 32, not starting with a digit, . or -)')),
    ...userFields,
    displayName: z.optional(userFields.displayName),
    mail: z.optional(userFields.mail),
    accountLocked: z.optional(userFields.accountLocked),
    memberOfs: z._default(userFields.memberOfs, []),
    principal: z._default(userFields.principal, []),
    sshPublicKeys: z._default(userFields.sshPublicKeys, []),
    sshPublicCerts: z.optional(userFields.sshPublicCerts),
  }).check(z.refine(passwordsMatch, PASSWORD_MISMATCH));
});
export type UserCreate = z.infer<typeof UserCreateSchema>;

export const UserUpdateSchema = /* @__PURE__ */ z.lazy(() => {
  const userFields = buildUserFields();
  return z.strictObject({
    cn: z.optional(z.string()),
    userPassword: z.optional(userFields.userPassword),
    confirmPassword: z.optional(userFields.confirmPassword),
    /** Checked when sent (a bind as the user); the console does not send it. */
    currentPassword: z.optional(z.string().check(z.maxLength(128, 'must be at most 128 characters'))),
    givenName: z.optional(userFields.givenName),
    sn: z.optional(userFields.sn),
    displayName: z.optional(userFields.displayName),
    mail: z.optional(userFields.mail),
    duration: z.optional(userFields.duration),
    durationUnit: z.optional(userFields.durationUnit),
    accountLocked: z.optional(userFields.accountLocked),
    memberOfs: z.optional(userFields.memberOfs),
    principal: z.optional(userFields.principal),
    sshPublicKeys: z.optional(userFields.sshPublicKeys),
    sshPublicCerts: z.optional(userFields.sshPublicCerts),
  }).check(z.refine(passwordsMatch, PASSWORD_MISMATCH));
});
export type UserUpdate = z.infer<typeof UserUpdateSchema>;

/** Fields a non-admin may send about themselves (keys only for groups they are already in). */
export const SELF_SERVICE_FIELDS = new Set([
  'cn', 'givenName', 'sn', 'displayName', 'mail', 'userPassword', 'confirmPassword', 'currentPassword', 'sshPublicKeys', 'sshPublicCerts',
]);

/**
 * The attributes of a new user entry, with its first keys (already checked, see planKeyChanges);
 * password, lock and groups are separate steps.
 */
export const buildUserEntry = (input: UserCreate, keyValues: string[] = []): Record<string, string | string[]> => ({
  objectClass: USER_OBJECT_CLASSES,
  cn: input.cn,
  uid: input.cn,
  sn: input.sn,
  givenName: input.givenName,
  ...present('displayName', input.displayName),
  ...present('mail', input.mail),
  pwdAttribute: 'userPassword',
  info: infoValue(input),
  ...(input.principal.length === 0 ? {} : { pseudonym: unique(input.principal) }),
  ...(keyValues.length === 0 ? {} : { sshPublicKey: keyValues }),
});

/** Replacements of the single-valued attributes an update touches (lists, password, lock are separate). */
export const buildUserChanges = (input: UserUpdate, currentInfo: string | undefined): Change[] => {
  const changes: Change[] = [];
  for (const attribute of ['givenName', 'sn', 'displayName', 'mail'] as const) {
    const v = input[attribute];
    if (v !== undefined) changes.push(replace(attribute, [v]));
  }
  const info = updatedInfo(input, currentInfo);
  if (info !== undefined) changes.push(replace('info', [info]));
  return changes;
};

// ---- operations (one directory connection, passed in by the handler) ----

export const userDN = (name: string, baseDN: string): string => entityDN('user', name, baseDN);

export const readUser = (client: Client, name: string, baseDN: string): Promise<Entry> => readEntity(client, 'user', name, baseDN, USER_ATTRIBUTES);

/** How GET /api/users lists users (lib/listing.ts); ?q= matches a name, display name or mail prefix. */
export const USER_LIST: ListSpec = { kind: 'user', attributes: USER_ATTRIBUTES, searchable: ['cn', 'displayName', 'mail'], toJson: toUserJson };

/** The memberOfs as the directory spells the groups' DNs, once each; 400 naming those that are not existing groups. */
const resolveGroups = async (client: Client, groupDNs: string[], baseDN: string): Promise<string[]> => {
  const { found, missing } = await resolveEntities(client, groupDNs, ['group'], baseDN);
  if (missing.length > 0) {
    throw badRequest(`Unknown groups: ${missing.join('; ')}`, { errors: { memberOfs: `not existing groups: ${missing.join('; ')}` } });
  }
  return found;
};

/** 409 when another user holds the new user's name or one of its principals (see lib/principals.ts). */
const assertNamesFree = async (client: Client, input: UserCreate, dn: string, baseDN: string): Promise<void> => {
  const claim = await findClaim(client, [input.cn, ...input.principal], dn, baseDN);
  if (claim !== undefined) throw claimConflict(claim, claim.name.toLowerCase() === input.cn ? 'cn' : 'principal');
};

/**
 * Creates a user: entry, password (hashed by the directory), lock, groups, all or nothing: when a
 * step fails, the steps done are undone and the step's error is rethrown. Name and principals are
 * checked before the entry is added and again after (a concurrent claim of one of them).
 */
export const createUser = async (client: Client, input: UserCreate, baseDN: string, cas?: CertificateAuthorities): Promise<Entry> => {
  const groups = await resolveGroups(client, input.memberOfs, baseDN);
  const now = new Date();
  const keys = planKeyChanges(input.sshPublicKeys, groups, [], expiryAfter(now, input));
  const certPlan = planCertChanges(input.sshPublicCerts ?? [], groups, []);
  await assertNotRevoked(client, baseDN, keys.add.map((key) => key.fingerprint), 'sshPublicKeys');
  await assertNotRevoked(client, baseDN, certPlan.add.map((key) => key.fingerprint), 'sshPublicCerts');
  const certs = signUserKeys(certPlan.add, input.cn, input.principal, now, validitySeconds(input), cas);
  const dn = userDN(input.cn, baseDN);
  await assertNamesFree(client, input, dn, baseDN);
  return allOrNothing(client, async (journal) => {
    // Nobody else can write the entry before it exists, so its keys go in with it, numbered 0..n-1
    // (certificates 100..). Its undo (deleting it) also undoes the password and the lock.
    const uuid = await addEntry(journal, dn, OBJECT_CLASSES.user, buildUserEntry(input, [...initialKeyValues(keys.add, keys.dateExpire), ...initialCertValues(certs, 'user')]));
    await assertNamesFree(journal.client, input, dn, baseDN);
    await journal.write(`set the password of ${dn}`, (c) => setPassword(c, dn, input.userPassword));
    if (input.accountLocked === true) await journal.write(`lock ${dn}`, (c) => c.modify(dn, lockChanges(UNLOCKED, true, false), RELAX_RULES));
    for (const group of groups) await addMember(journal, group, dn, baseDN);
    return readCreated(journal.client, 'user', input.cn, baseDN, USER_ATTRIBUTES, uuid);
  }).catch((error: unknown) => {
    throw deletedMeanwhile(error, `User ${input.cn}`);
  });
};

/** A user certificate's principals: the user's principals or, when there are none, the user name. */
export const userPrincipals = (name: string, principal: string[]): string[] => (principal.length > 0 ? unique(principal) : [name]);

/** Signs a user's keys with the user CA (read only when there is something to sign). */
const signUserKeys = (keys: NewKey[], name: string, principal: string[], now: Date, durationSeconds: number, cas: CertificateAuthorities | undefined): NewCert[] => {
  if (keys.length === 0) return [];
  if (cas === undefined) throw new Error('signing user certificates needs the user CA');
  return signKeys(keys, { ca: cas.get('user'), type: 'user', keyId: name, principals: userPrincipals(name, principal), now, durationSeconds }, 'sshPublicCerts');
};

/** Adds principals (checked against concurrent claims, lib/principals.ts) as a journal step. */
const claimStep = (journal: Journal, dn: string, added: string[], baseDN: string): Promise<void> =>
  journal.write(`claim principals for ${dn}`, (c) => claimPrincipals(c, dn, added, baseDN), (c) => withdrawPrincipals(c, dn, added));

export interface UpdateOptions {
  /** Ends the user's other sessions, as steps of the update's journal (see updateUser). */
  endSessions?: (journal: Journal, dn: string) => Promise<void>;
  /** The If-Match entity tags, when the request has any (lib/etags.ts). */
  ifMatch?: string[] | undefined;
  /** The user CA, for certificates to sign. */
  cas?: CertificateAuthorities;
}

/**
 * Applies an update, all or nothing; validation (including groups and keys) happens before the
 * first write; with If-Match, only to the version the client read. `endSessions` runs both right
 * before and right after a new password is set: before, so that no older session
 * outlives a new password that stays because its undo failed; after, so that no login that read
 * the entry in between with the old password survives.
 */
export const updateUser = async (
  client: Client,
  name: string,
  input: UserUpdate,
  baseDN: string,
  { endSessions, ifMatch, cas }: UpdateOptions = {},
): Promise<Entry> => {
  assertNameUnchanged(input.cn, name);
  const current = await readEntity(client, 'user', name, baseDN, [...USER_ATTRIBUTES, ...PASSWORD_STATE]);
  requireVersion(client, current, OBJECT_CLASSES.user, `User ${name}`, ifMatch);
  const dn = current.dn;
  const wanted = input.memberOfs === undefined ? undefined : await resolveGroups(client, input.memberOfs, baseDN);
  const keys =
    input.sshPublicKeys === undefined
      ? undefined
      : planKeyChanges(
          input.sshPublicKeys,
          wanted ?? values(current, 'memberOf'),
          storedValues(values(current, 'sshPublicKey')),
          expiryAfter(new Date(), updatedValidity(input, value(current, 'info'))),
        );
  if (keys !== undefined) await assertNotRevoked(client, baseDN, keys.add.map((key) => key.fingerprint), 'sshPublicKeys');
  const now = new Date();
  const certPlan =
    input.sshPublicCerts === undefined
      ? undefined
      : planCertChanges(input.sshPublicCerts, wanted ?? values(current, 'memberOf'), storedValues(values(current, 'sshPublicKey')));
  if (certPlan !== undefined) await assertNotRevoked(client, baseDN, certPlan.add.map((key) => key.fingerprint), 'sshPublicCerts');
  const certs = signUserKeys(
    certPlan?.add ?? [],
    name,
    input.principal ?? values(current, 'pseudonym'),
    now,
    validitySeconds(updatedValidity(input, value(current, 'info'))),
    cas,
  );
  const changes = buildUserChanges(input, value(current, 'info'));
  const lock = lockChanges(lockFacts(current), input.accountLocked, input.userPassword !== undefined);
  const { add, remove } = wanted === undefined ? { add: [], remove: [] } : diffDNs(values(current, 'memberOf'), wanted);
  for (const group of remove) await assertCanLeave(client, group, dn, baseDN);
  return allOrNothing(client, async (journal) => {
    // Principals, keys, certificates and groups first: the steps that can still be refused (a
    // concurrent claim, duplicate or last administrator leaving).
    if (input.principal !== undefined) {
      await claimStep(journal, dn, addedPrincipals(values(current, 'pseudonym'), input.principal), baseDN);
      await deleteValues(journal, dn, 'pseudonym', droppedIgnoringCase(values(current, 'pseudonym'), input.principal));
      await respell(journal, dn, 'pseudonym', respellings(values(current, 'pseudonym'), input.principal));
    }
    if (keys !== undefined) await applyKeyPlan(journal, dn, keys, baseDN);
    if (certPlan !== undefined) await applyCertPlan(journal, dn, certPlan, certs, 'user', baseDN, now);
    for (const group of add) await addMember(journal, group, dn, baseDN);
    for (const group of remove) await removeMember(journal, group, dn, baseDN);
    if (input.userPassword !== undefined) {
      await endSessions?.(journal, dn);
      await changePassword(journal, current, input.userPassword);
      await endSessions?.(journal, dn);
    }
    // After the password (which lifts every lock), and on its own: Relax Rules must not relax the
    // checks of the other changes.
    if (lock.length > 0) {
      await journal.write(`lock state of ${dn}`, (c) => c.modify(dn, lock, RELAX_RULES), (c) => c.modify(dn, restoring(current, lock), RELAX_RULES));
    }
    if (changes.length > 0) await journal.write(`modify ${dn}`, (c) => c.modify(dn, changes), (c) => c.modify(dn, restoring(current, changes)));
    return readUser(journal.client, name, baseDN);
  });
};

/**
 * Deletes a user after taking them out of their groups (so no group is left invalid) and off the
 * hosts they own (refint would do it too, but only after the delete has answered), all or nothing.
 */
export const deleteUser = async (client: Client, name: string, baseDN: string): Promise<void> => {
  if (isProtectedUser(name)) throw forbidden(`User ${name} is protected and cannot be deleted`);
  const current = await readUser(client, name, baseDN);
  for (const group of values(current, 'memberOf')) await assertCanLeave(client, group, current.dn, baseDN);
  const owned = await searchChildren(client, containerDN('host', baseDN), new EqualityFilter({ attribute: 'owner', value: current.dn }), ['cn']);
  await allOrNothing(client, async (journal) => {
    for (const group of values(current, 'memberOf')) await removeMember(journal, group, current.dn, baseDN);
    for (const host of owned) {
      await journal.write(
        `remove ${current.dn} from the owners of ${host.dn}`,
        (c) => deleteValue(c, host.dn, 'owner', current.dn),
        (c) => addValue(c, host.dn, 'owner', current.dn),
      );
    }
    await deleteLast(journal, current.dn);
  });
};
