// Hosts: the mapping between device entries under ou=Hosts and the API's JSON, the input schemas,
// the pure builders of entries and modifications, and the `*Host` operations the handlers call.
// A host comes with a group of its own name (containing it) and a place in AllHosts; creating and
// deleting a host keeps the three together, and a failed create leaves nothing behind. A host may
// carry a credential for the public server routes (lib/hostcredentials.ts), set through an update.
import { AlreadyExistsError, Attribute, Change, EqualityFilter, NoSuchAttributeError, type Client, type Entry } from 'ldapts';
import { assertion, isAssertionFailed } from './assertion.js';
import { present, unique } from './input.js';
import { HOST_OBJECT_CLASSES, hostGroupDescription, HOSTS_GROUP, isProtectedGroup, OBJECT_CLASSES } from './layout.js';
import * as z from './zod.js';
import { readEntry, value, values } from './directory.js';
import { diffDNs, entityDN, HOST_NAME, MAX_NAME_LENGTH, sameDN } from './dn.js';
import { badRequest, conflict } from './errors.js';
import { assertNameUnchanged, deletedMeanwhile, readCreated, readEntity } from './entities.js';
import { requireVersion, VERSION_ATTRIBUTE } from './etags.js';
import type { ListSpec } from './listing.js';
import { addGroupEntry, buildGroupEntry, groupDN } from './groups.js';
import type { CertificateAuthorities } from './cakeys.js';
import { applyCertPlan, certJson, hostCertChanges, initialCertValues, planCertChanges, signKeys, type NewCert } from './certs.js';
import { CREDENTIAL_ATTRIBUTE, credentialValues, newHostCredential } from './hostcredentials.js';
import { assertNotRevoked, parseStoredKeys, storedValues, type NewKey, type StoredKey } from './keys.js';
import { addMember, realMembers, removeMember, resolveEntities } from './membership.js';
import { descriptionField, dnList, principals } from './validation.js';
import { DEFAULT_VALIDITY, duration, durationUnit, infoValue, parseInfo, updatedInfo, updatedValidity, validitySeconds, type Validity } from './validity.js';
import { addEntry, addValue, addValues, allOrNothing, deleteEntry, deleteLast, deleteValues, droppedIgnoringCase, replace, respell, respellings, restoring } from './writes.js';

/** Attributes read for a host response (memberOf is operational and must be named). */
export const HOST_ATTRIBUTES = ['cn', 'description', 'owner', 'pseudonym', 'info', 'sshPublicKey', 'memberOf', CREDENTIAL_ATTRIBUTE, VERSION_ATTRIBUTE];

export interface HostJson {
  dn: string;
  cn: string;
  description?: string;
  owners: string[];
  memberOfs: string[];
  principal: string[];
  duration: number;
  durationUnit: Validity['durationUnit'];
  /** Host certificates: the stored sshPublicKey JSON documents. */
  sshPublicCerts: StoredKey[];
  /** Whether the host has a credential for the public server routes (never the credential itself). */
  hasCredential: boolean;
}

export const toHostJson = (entry: Entry, baseDN: string): HostJson => {
  const hostDescription = value(entry, 'description');
  return {
    dn: entry.dn,
    cn: value(entry, 'cn') ?? '',
    ...present('description', hostDescription),
    // refint leaves the placeholder in `owner` when the last owning user is deleted.
    owners: realMembers(values(entry, 'owner'), baseDN),
    memberOfs: values(entry, 'memberOf'),
    principal: values(entry, 'pseudonym'),
    ...parseInfo(value(entry, 'info')),
    sshPublicCerts: parseStoredKeys(values(entry, 'sshPublicKey')).map(certJson),
    hasCredential: credentialValues(values(entry, CREDENTIAL_ATTRIBUTE)).length > 0,
  };
};

// Built on first use by the two schemas below (z.lazy): most functions importing this module (get,
// list, delete...) never parse a host, and building these schemas costs every cold start.
const buildHostFields = () => ({
  description: descriptionField(),
  owners: dnList,
  principal: principals,
  duration,
  durationUnit,
});

export const HostCreateSchema = /* @__PURE__ */ z.lazy(() => {
  const hostFields = buildHostFields();
  return z.strictObject({
    cn: z.string().check(z.regex(HOST_NAME, `must be a DNS host name: labels of letters, digits and hyphens separated by dots (at most ${MAX_NAME_LENGTH})`)),
    description: z.optional(hostFields.description),
    owners: z._default(hostFields.owners, []),
    principal: z._default(hostFields.principal, []),
    // Keyper's console creates hosts with a name and description only: the default validity applies.
    duration: z._default(hostFields.duration, DEFAULT_VALIDITY.duration),
    durationUnit: z._default(hostFields.durationUnit, DEFAULT_VALIDITY.durationUnit),
    sshPublicCerts: z._default(hostCertChanges, []),
  });
});
export type HostCreate = z.infer<typeof HostCreateSchema>;

export type CredentialAction = 'rotate' | 'remove';

/** What an update asks of the host's credential, if anything. */
export const credentialAction = (input: { rotateCredential?: boolean; removeCredential?: boolean }): CredentialAction | undefined =>
  input.rotateCredential === true ? 'rotate' : input.removeCredential === true ? 'remove' : undefined;

export const HostUpdateSchema = /* @__PURE__ */ z.lazy(() => {
  const hostFields = buildHostFields();
  return z
  .strictObject({
    cn: z.optional(z.string()),
    description: z.optional(hostFields.description),
    owners: z.optional(hostFields.owners),
    principal: z.optional(hostFields.principal),
    duration: z.optional(hostFields.duration),
    durationUnit: z.optional(hostFields.durationUnit),
    sshPublicCerts: z.optional(hostCertChanges),
    /** A new credential for the public server routes, answered once (replaces any other). */
    rotateCredential: z.optional(z.boolean()),
    /** No credential any more: the host is answered without one, as Keyper answers. */
    removeCredential: z.optional(z.boolean()),
  })
  // A credential action is a request of its own: its answer carries a secret, and it succeeds or
  // conflicts (409) as a whole.
  .check(
    z.superRefine((input, context) => {
      const action = credentialAction(input);
      if (action === undefined) return;
      for (const [field, value] of Object.entries(input)) {
        if (value === undefined || field === `${action}Credential` || (value === false && field.endsWith('Credential'))) continue;
        context.addIssue({ code: 'custom', path: [field], input: value, message: `cannot be combined with ${action}Credential` });
      }
    }),
  );
});
export type HostUpdate = z.infer<typeof HostUpdateSchema>;

/** The attributes of a new host entry; `owners` are DNs as the directory holds them. */
export const buildHostEntry = (input: HostCreate, owners: string[], certValues: string[] = []): Record<string, string | string[]> => ({
  objectClass: HOST_OBJECT_CLASSES,
  cn: input.cn,
  ...present('description', input.description),
  ...(owners.length === 0 ? {} : { owner: owners }),
  ...(input.principal.length === 0 ? {} : { pseudonym: unique(input.principal) }),
  info: infoValue(input),
  ...(certValues.length === 0 ? {} : { sshPublicKey: certValues }),
});

/** Replacements of the single-valued attributes an update touches (owners and principals are value by value). */
export const buildHostChanges = (input: HostUpdate, currentInfo: string | undefined): Change[] => {
  const changes: Change[] = [];
  if (input.description !== undefined) changes.push(replace('description', input.description === null ? [] : [input.description]));
  const info = updatedInfo(input, currentInfo);
  if (info !== undefined) changes.push(replace('info', [info]));
  return changes;
};

/** A host certificate's principals: the host name and its principals. */
export const hostPrincipals = (name: string, principal: string[]): string[] => unique([name, ...principal]);

/** Signs a host's keys with the host CA (read only when there is something to sign). */
const signHostKeys = (keys: NewKey[], name: string, principal: string[], now: Date, durationSeconds: number, cas: CertificateAuthorities | undefined): NewCert[] => {
  if (keys.length === 0) return [];
  if (cas === undefined) throw new Error('signing host certificates needs the host CA');
  return signKeys(keys, { ca: cas.get('host'), type: 'host', keyId: name, principals: hostPrincipals(name, principal), now, durationSeconds }, 'sshPublicCerts');
};

// ---- operations (one directory connection, passed in by the handler) ----

export const hostDN = (name: string, baseDN: string): string => entityDN('host', name, baseDN);

export const readHost = (client: Client, name: string, baseDN: string): Promise<Entry> => readEntity(client, 'host', name, baseDN, HOST_ATTRIBUTES);

/** How GET /api/hosts lists hosts (lib/listing.ts); ?q= matches a name prefix. */
export const hostList = (baseDN: string): ListSpec => ({
  kind: 'host', attributes: HOST_ATTRIBUTES, searchable: ['cn'], toJson: (entry) => toHostJson(entry, baseDN),
});

/** The owners as the directory holds their DNs; 400 naming those that are not existing users. */
const resolveOwners = async (client: Client, dns: string[], baseDN: string): Promise<string[]> => {
  const { found, missing } = await resolveEntities(client, dns, ['user'], baseDN);
  if (missing.length > 0) {
    throw badRequest(`Unknown owners: ${missing.join('; ')}`, { errors: { owners: `not existing users: ${missing.join('; ')}` } });
  }
  return found;
};

/**
 * Creates a host in three steps: the entry, its own group (containing it), its place in AllHosts.
 * When a step fails, the steps done are undone in reverse order and the step's error is rethrown
 * (a group of the same name already existing is a 409), so the directory is as it was.
 */
export const createHost = async (client: Client, input: HostCreate, baseDN: string, cas?: CertificateAuthorities): Promise<Entry> => {
  const owners = await resolveOwners(client, input.owners, baseDN);
  const certPlan = planCertChanges(input.sshPublicCerts, [], []);
  await assertNotRevoked(client, baseDN, certPlan.add.map((key) => key.fingerprint), 'sshPublicCerts');
  const certs = signHostKeys(certPlan.add, input.cn, input.principal, new Date(), validitySeconds(input), cas);
  const dn = hostDN(input.cn, baseDN);
  return allOrNothing(client, async (journal) => {
    let uuid: string | undefined;
    try {
      // Nobody else can write the entry before it exists: its certificates go in with it (100..).
      uuid = await addEntry(journal, dn, OBJECT_CLASSES.host, buildHostEntry(input, owners, initialCertValues(certs, 'host')));
    } catch (error) {
      if (error instanceof AlreadyExistsError) throw conflict(`Host ${input.cn} already exists`);
      throw error;
    }
    await addGroupEntry(journal, input.cn, buildGroupEntry(input.cn, hostGroupDescription(input.cn), [dn], baseDN), baseDN);
    await addMember(journal, groupDN(HOSTS_GROUP, baseDN), dn, baseDN);
    return readCreated(journal.client, 'host', input.cn, baseDN, HOST_ATTRIBUTES, uuid);
  }).catch((error: unknown) => {
    throw deletedMeanwhile(error, `Host ${input.cn}`);
  });
};

/**
 * Applies an update, all or nothing; with If-Match, only to the version the client read. Owners
 * and certificates are checked (and new certificates signed) before the first write; owners,
 * principals and certificates change value by value.
 */
export const updateHost = async (
  client: Client,
  name: string,
  input: HostUpdate,
  baseDN: string,
  { ifMatch, cas }: { ifMatch?: string[] | undefined; cas?: CertificateAuthorities } = {},
): Promise<Entry> => {
  assertNameUnchanged(input.cn, name);
  const current = await readHost(client, name, baseDN);
  requireVersion(client, current, OBJECT_CLASSES.host, `Host ${name}`, ifMatch);
  const dn = current.dn;
  const owners = input.owners === undefined ? undefined : diffDNs(values(current, 'owner'), await resolveOwners(client, input.owners, baseDN));
  const changes = buildHostChanges(input, value(current, 'info'));
  const now = new Date();
  const certPlan = input.sshPublicCerts === undefined ? undefined : planCertChanges(input.sshPublicCerts, [], storedValues(values(current, 'sshPublicKey')));
  if (certPlan !== undefined) await assertNotRevoked(client, baseDN, certPlan.add.map((key) => key.fingerprint), 'sshPublicCerts');
  const validity = updatedValidity(input, value(current, 'info'));
  const certs = signHostKeys(certPlan?.add ?? [], name, input.principal ?? values(current, 'pseudonym'), now, validitySeconds(validity), cas);
  return allOrNothing(client, async (journal) => {
    if (certPlan !== undefined) await applyCertPlan(journal, dn, certPlan, certs, 'host', baseDN, now);
    if (changes.length > 0) await journal.write(`modify ${dn}`, (c) => c.modify(dn, changes), (c) => c.modify(dn, restoring(current, changes)));
    if (owners !== undefined) {
      await addValues(journal, dn, 'owner', owners.add);
      // refint leaves the placeholder in `owner` when the last owning user is deleted: it goes too.
      await deleteValues(journal, dn, 'owner', owners.remove);
    }
    if (input.principal !== undefined) {
      const held = values(current, 'pseudonym');
      await addValues(journal, dn, 'pseudonym', droppedIgnoringCase(unique(input.principal), held));
      await deleteValues(journal, dn, 'pseudonym', droppedIgnoringCase(held, input.principal));
      await respell(journal, dn, 'pseudonym', respellings(held, input.principal));
    }
    return readHost(journal.client, name, baseDN);
  });
};

const credentialChange = (operation: 'add' | 'delete', vals: string[]): Change =>
  new Change({ operation, modification: new Attribute({ type: CREDENTIAL_ATTRIBUTE, values: vals }) });

/**
 * Rotates or removes a host's credential. One modify deletes exactly the credential values read
 * (a concurrent change makes it fail as a whole: 409) and adds the new one. Two first rotations
 * have nothing to delete and may both add theirs: the read-back then finds ours not alone, takes
 * it out again and answers 409, so a token is answered only when it is the host's one credential.
 */
export const changeHostCredential = async (
  client: Client,
  name: string,
  action: CredentialAction,
  baseDN: string,
  ifMatch?: string[],
): Promise<{ entry: Entry; credential?: string }> => {
  const current = await readHost(client, name, baseDN);
  requireVersion(client, current, OBJECT_CLASSES.host, `Host ${name}`, ifMatch);
  const old = credentialValues(values(current, CREDENTIAL_ATTRIBUTE));
  const fresh = action === 'rotate' ? newHostCredential() : undefined;
  const changes = [...(old.length > 0 ? [credentialChange('delete', old)] : []), ...(fresh === undefined ? [] : [credentialChange('add', [fresh.stored])])];
  const changedMeanwhile = () => conflict(`The credential of host ${name} was changed at the same time; try again`);
  return allOrNothing(client, async (journal) => {
    if (changes.length > 0) {
      await journal.write(
        `${action} the credential of ${current.dn}`,
        async (c) => {
          try {
            await c.modify(current.dn, changes);
          } catch (error) {
            if (error instanceof NoSuchAttributeError) throw changedMeanwhile();
            throw error;
          }
        },
        (c) => restoreCredential(c, current.dn, old, fresh?.stored),
      );
    }
    const entry = await readHost(journal.client, name, baseDN);
    if (fresh === undefined) return { entry };
    const now = credentialValues(values(entry, CREDENTIAL_ATTRIBUTE));
    // Not ours alone: the undo takes ours out again (only two first rotations get here, with no
    // old value to put back).
    if (now.length !== 1 || now[0] !== fresh.stored) throw changedMeanwhile();
    return { entry, credential: fresh.token };
  });
};

/**
 * Undoes a credential change: the old values back, ours out, but only while ours is still there
 * (asserted): once another rotation replaced it, the credential is that rotation's to keep.
 */
const restoreCredential = async (client: Client, dn: string, old: string[], fresh: string | undefined): Promise<void> => {
  if (fresh === undefined) {
    for (const value of old) await addValue(client, dn, CREDENTIAL_ATTRIBUTE, value);
    return;
  }
  const changes = [...old.map((value) => credentialChange('add', [value])), credentialChange('delete', [fresh])];
  try {
    await client.modify(dn, changes, assertion(OBJECT_CLASSES.host, new EqualityFilter({ attribute: CREDENTIAL_ATTRIBUTE, value: fresh })));
  } catch (error) {
    if (!isAssertionFailed(error)) throw error;
  }
};

/**
 * Deletes a host, all or nothing: out of every group it is in (removeMember keeps each group
 * valid), then its own group (put back as it was by the undo), then the entry.
 */
export const deleteHost = async (client: Client, name: string, baseDN: string): Promise<void> => {
  const current = await readHost(client, name, baseDN);
  const ownGroupDN = groupDN(name, baseDN);
  // A host can never be created under a protected group's name; should one exist anyway, its
  // namesake group stays and only loses the host.
  const ownGroup = isProtectedGroup(name) ? undefined : await readEntry(client, ownGroupDN, ['*']);
  await allOrNothing(client, async (journal) => {
    for (const group of values(current, 'memberOf')) {
      if (ownGroup !== undefined && sameDN(group, ownGroup.dn)) continue;
      await removeMember(journal, group, current.dn, baseDN);
    }
    if (ownGroup !== undefined) await deleteEntry(journal, ownGroup);
    await deleteLast(journal, current.dn);
  });
};
