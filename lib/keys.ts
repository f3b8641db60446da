// SSH public keys stored on users: Keyper's value format (one JSON document per `sshPublicKey`
// value), the input schema of key changes, the pure checks and builders, and the writes that add
// or delete single values, one request's plan at a time. Values are never rewritten: what Keyper
// stored reads back as stored. Certificates (keytype 1) are lib/certs.ts's.
import { setTimeout as sleep } from 'node:timers/promises';
import { Attribute, Change, NoSuchAttributeError, TypeOrValueExistsError, type Client } from 'ldapts';
import * as z from './zod.js';
import { readEntry, values } from './directory.js';
import { normalizeDN } from './dn.js';
import { apiError, badRequest, conflict, type ApiError } from './errors.js';
import { refusedKeys, revokeKey } from './revocations.js';
import { parsePublicKey, SshKeyError, type ParsedKey } from './sshkeys.js';
import { dnList, textField } from './validation.js';
import { validityEnd, type Validity } from './validity.js';
import { UNCHANGED, type Journal } from './writes.js';

/** A stored sshPublicKey value: Keyper's JSON, passed through as stored (unknown keys kept). */
export type StoredKey = Record<string, unknown> & { keytype?: number };

/** A stored value together with its exact text, which is what a delete must name. */
export interface StoredValue {
  raw: string;
  key: StoredKey;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const parseStoredValue = (raw: string): StoredKey | undefined => {
  try {
    const parsed: unknown = JSON.parse(raw);
    return isRecord(parsed) ? (parsed as StoredKey) : undefined;
  } catch {
    return undefined;
  }
};

/** The JSON values of the attribute; values that are not JSON objects are not keys and are skipped. */
export const storedValues = (raw: string[]): StoredValue[] =>
  raw.flatMap((r) => {
    const key = parseStoredValue(r);
    return key === undefined ? [] : [{ raw: r, key }];
  });

export const parseStoredKeys = (raw: string[]): StoredKey[] => storedValues(raw).map(({ key }) => key);

/** The stored keys of a response, each value parsed once: plain keys, and keys with certificates (keytype 1). */
export const splitStoredKeys = (raw: readonly string[]): { plain: StoredKey[]; certs: StoredKey[] } => {
  const plain: StoredKey[] = [];
  const certs: StoredKey[] = [];
  for (const value of raw) {
    const key = parseStoredValue(value);
    if (key !== undefined) (isPlainKey(key) ? plain : certs).push(key);
  }
  return { plain, certs };
};

/** Plain public keys: keytype 0, or no keytype at all (Keyper's older values), as Keyper sorts them. */
export const isPlainKey = (key: StoredKey): boolean => key.keytype !== 1;

export const keyIdOf = (key: StoredKey): number | undefined =>
  typeof key.keyid === 'number' && Number.isInteger(key.keyid) ? key.keyid : undefined;

/** The fingerprint of a stored key: the stored field, or computed from its key line when absent. */
export const storedFingerprint = (key: StoredKey): string | undefined => {
  if (typeof key.fingerprint === 'string') return key.fingerprint;
  if (typeof key.key !== 'string') return undefined;
  try {
    return parsePublicKey(key.key).fingerprint;
  } catch {
    return undefined;
  }
};

// ---- expiry: Keyper's `dateExpire`, UTC YYYYMMDDHHMMSS (older values YYYYMMDD) ----

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export const formatExpiry = (date: Date): string =>
  `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
  `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`;

/** The `dateExpire` of a key added at `now` by an entry of this validity. */
export const expiryAfter = (now: Date, validity: Validity): string => formatExpiry(validityEnd(now, validity));

/**
 * The instant a `dateExpire` value ends, or undefined when it is not a real date in either form.
 * A date-only value ends at the start of that day (UTC), as Keyper's strptime of it did.
 */
export const parseExpiry = (raw: unknown): Date | undefined => {
  if (typeof raw !== 'string') return undefined;
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?$/.exec(raw);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 20240230 over into March; a value that does not round-trip is not a date.
  const roundTrip = formatExpiry(date).slice(0, raw.length);
  return roundTrip === raw ? date : undefined;
};

// ---- input: entries without keyid are added, entries with keyid are removed ----

export const KeyAdditionSchema = /* @__PURE__ */ z.lazy(() =>
  z.strictObject({
    name: textField(100),
    key: z.string(),
    /** Optional: Keyper's console sends the one it computed; it must equal the server's. */
    fingerprint: z.optional(z.string().check(z.maxLength(100))),
    hostGroups: z._default(dnList, []),
  }),
);
export type KeyAddition = z.infer<typeof KeyAdditionSchema>;

/** Keyper's console sends the whole stored key to delete it: only keyid (and fingerprint) matter. */
export const KeyRemovalSchema = /* @__PURE__ */ z.lazy(() => z.looseObject({ keyid: z.number().check(z.int(), z.gte(0), z.lte(1_000_000)) }));
export type KeyRemoval = z.infer<typeof KeyRemovalSchema>;

export type KeyChange = KeyAddition | KeyRemoval;

/**
 * One entry of `sshPublicKeys`: validated as a removal when it carries a keyid, else as an
 * addition, so a 400 names the fields of the schema that applies (a union would say only
 * "Invalid input").
 */
export const keyChange = /* @__PURE__ */ z.lazy(() =>
  z.pipe(
    z.unknown(),
    z.transform((entry, ctx): KeyChange => {
      const result = isRecord(entry) && entry.keyid !== undefined ? KeyRemovalSchema.safeParse(entry) : KeyAdditionSchema.safeParse(entry);
      if (result.success) return result.data;
      for (const issue of result.error.issues) ctx.issues.push({ ...issue, input: entry } as z.core.$ZodRawIssue);
      return z.NEVER;
    }),
  ),
);

export const keyChanges = /* @__PURE__ */ z.lazy(() => z.array(keyChange).check(z.maxLength(100, 'must be at most 100 keys')));

export const isRemoval = (change: KeyChange): change is KeyRemoval => 'keyid' in change;

export const splitKeyChanges = (changes: KeyChange[]): { additions: KeyAddition[]; removals: KeyRemoval[] } => ({
  additions: changes.filter((c): c is KeyAddition => !isRemoval(c)),
  removals: changes.filter(isRemoval),
});

// ---- pure checks and builders ----

/** A key that passed every check, ready to be stored. */
export interface NewKey {
  name: string;
  /** The key line as parsePublicKey normalises it. */
  key: string;
  fingerprint: string;
  hostGroups: string[];
}

/**
 * Checks one addition; problems go into `errors` under `sshPublicKeys.<index>.<field>`. `groups`
 * maps each group of the user (normalised DN) to its DN as given in memberOf, which is how the
 * key's hostGroups are stored, whatever spelling the request used.
 */
const checkAddition = (addition: KeyAddition, field: string, groups: Map<string, string>, errors: Record<string, string>): NewKey | undefined => {
  let parsed: ParsedKey;
  try {
    parsed = parsePublicKey(addition.key);
  } catch (error) {
    if (!(error instanceof SshKeyError)) throw error;
    errors[`${field}.key`] = error.message;
    return undefined;
  }
  if (addition.fingerprint !== undefined && addition.fingerprint !== parsed.fingerprint) {
    errors[`${field}.fingerprint`] = `does not match the key (${parsed.fingerprint})`;
  }
  const hostGroups = [...new Map(addition.hostGroups.map((dn) => [normalizeDN(dn), groups.get(normalizeDN(dn)) ?? dn])).values()];
  const outside = hostGroups.filter((dn) => !groups.has(normalizeDN(dn)));
  if (outside.length > 0) errors[`${field}.hostGroups`] = `not groups of the user: ${outside.join('; ')}`;
  return { name: addition.name, key: parsed.line, fingerprint: parsed.fingerprint, hostGroups };
};

/**
 * Parses and checks keys to add: the key itself (the parser's reason), the client's fingerprint,
 * and hostGroups ⊆ `memberOf` (the user's groups after this request). Every failing field goes
 * into one 400. The same key twice in one request is a 409, as it is against stored keys.
 */
export const prepareAdditions = (additions: KeyAddition[], memberOf: string[], field = 'sshPublicKeys'): NewKey[] => {
  const groups = new Map(memberOf.map((dn) => [normalizeDN(dn), dn]));
  const errors: Record<string, string> = {};
  const prepared = additions.flatMap((addition, index) => checkAddition(addition, `${field}.${index}`, groups, errors) ?? []);
  const failing = Object.keys(errors);
  if (failing.length > 0) {
    // One problem: say it in msg, which is all Keyper's console shows.
    const msg = failing.length === 1 ? `Invalid ${failing[0]}: ${errors[failing[0] ?? '']}` : `Invalid input: ${failing.join(', ')}`;
    throw badRequest(msg, { errors });
  }
  const seen = new Set<string>();
  for (const key of prepared) {
    if (seen.has(key.fingerprint)) throw conflict(`SSH key ${key.fingerprint} is in the request twice`);
    seen.add(key.fingerprint);
  }
  return prepared;
};

/** 409 when a key to add is already stored for the user (values being removed do not count). */
export const assertNotStored = (keys: NewKey[], stored: StoredValue[]): void => {
  const fingerprints = new Set(stored.filter(({ key }) => isPlainKey(key)).map(({ key }) => storedFingerprint(key)));
  const duplicate = keys.find((key) => fingerprints.has(key.fingerprint));
  if (duplicate !== undefined) throw conflict(`SSH key ${duplicate.fingerprint} is already stored for this user`);
};

/**
 * The stored values a removal names: a plain key with that keyid and, when the request carries
 * the fingerprint (Keyper's console sends the whole stored key), that fingerprint too, so that a
 * value briefly sharing the keyid during a concurrent addition is never the one deleted.
 */
export const valuesToRemove = (removals: KeyRemoval[], stored: StoredValue[]): StoredValue[] =>
  stored.filter(({ key }) =>
    isPlainKey(key) &&
    removals.some((removal) =>
      removal.keyid === keyIdOf(key) && (typeof removal.fingerprint !== 'string' || removal.fingerprint === storedFingerprint(key))),
  );

/** What one request does to a user's keys, decided before the first write. */
export interface KeyPlan {
  /** Stored values to delete (exact strings). */
  remove: StoredValue[];
  add: NewKey[];
  dateExpire: string;
  /** The values as read before the request, minus those to delete. */
  remaining: StoredValue[];
}

/**
 * Decides a request's key changes against the stored values: removals name stored values (one
 * already gone is nothing to do), additions are checked, and a key stored already (and not being
 * removed by the same request) is a 409.
 */
export const planKeyChanges = (changes: KeyChange[], memberOf: string[], stored: StoredValue[], dateExpire: string): KeyPlan => {
  const { additions, removals } = splitKeyChanges(changes);
  const add = prepareAdditions(additions, memberOf);
  const remove = valuesToRemove(removals, stored);
  const remaining = stored.filter((v) => !remove.includes(v));
  assertNotStored(add, remaining);
  return { remove, add, dateExpire, remaining };
};

/** Plain keys number from 0: one past the highest plain keyid, skipping ids any value already uses. */
export const nextKeyId = (stored: StoredKey[]): number => {
  const used = new Set(stored.map(keyIdOf).filter((id): id is number => id !== undefined));
  const plain = stored.filter(isPlainKey).map(keyIdOf).filter((id): id is number => id !== undefined);
  let id = plain.length === 0 ? 0 : Math.max(...plain) + 1;
  while (used.has(id)) id += 1;
  return id;
};

/** The stored JSON of a new key, in Keyper's field order (request fields, then the server's). */
export const keyValue = (key: NewKey, keyid: number, dateExpire: string): string =>
  JSON.stringify({ name: key.name, key: key.key, fingerprint: key.fingerprint, hostGroups: key.hostGroups, keyid, keytype: 0, dateExpire });

/** Values for the keys of a user being created: nobody else can write the entry yet, so 0..n-1. */
export const initialKeyValues = (keys: NewKey[], dateExpire: string): string[] => keys.map((key, keyid) => keyValue(key, keyid, dateExpire));

// ---- revocations (lib/revocations.ts) ----

/**
 * 400 "revoked" when a key to add was revoked, or a certificate of it was: a removed key does not
 * come back, on this user or any other. (A revocation racing this check still wins: /authkeys and
 * the KRL never answer a revoked key, stored or not.)
 */
export const assertNotRevoked = async (client: Client, baseDN: string, fingerprints: string[], field: string): Promise<void> => {
  if (fingerprints.length === 0) return;
  const refused = await refusedKeys(client, baseDN, fingerprints);
  const revoked = fingerprints.find((fingerprint) => refused.has(fingerprint));
  if (revoked !== undefined) throw badRequest(`SSH key ${revoked} is revoked`, { errors: { [field]: `revoked: ${revoked}` } });
};

/**
 * Revokes the keys a plan removes (by fingerprint), except those the same request adds again (an
 * edit of the key's name or host groups); one revoked already stays as it is.
 */
export const revokeRemovedKeys = async (client: Client, baseDN: string, plan: Pick<KeyPlan, 'remove' | 'add'>): Promise<void> => {
  const kept = new Set(plan.add.map((key) => key.fingerprint));
  for (const { key } of plan.remove) {
    const fingerprint = storedFingerprint(key);
    if (fingerprint !== undefined && !kept.has(fingerprint) && /^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint)) await revokeKey(client, baseDN, fingerprint);
  }
};

// ---- writes of single values ----

const valueChange = (operation: 'add' | 'delete', raw: string): Change =>
  new Change({ operation, modification: new Attribute({ type: 'sshPublicKey', values: [raw] }) });

export const readKeyValues = async (client: Client, dn: string): Promise<StoredValue[]> =>
  storedValues(values((await readEntry(client, dn, ['sshPublicKey'])) ?? { dn }, 'sshPublicKey'));

/** Adds exactly this value back (undoing a delete); one present again is not an error. */
export const restoreKeyValue = async (client: Client, dn: string, raw: string): Promise<void> => {
  try {
    await client.modify(dn, [valueChange('add', raw)]);
  } catch (error) {
    if (!(error instanceof TypeOrValueExistsError)) throw error;
  }
};

/** Deletes exactly this value; one already gone (a concurrent removal) is UNCHANGED, not an error. */
export const deleteKeyValue = async (client: Client, dn: string, raw: string): Promise<typeof UNCHANGED | undefined> => {
  try {
    await client.modify(dn, [valueChange('delete', raw)]);
    return undefined;
  } catch (error) {
    if (error instanceof NoSuchAttributeError) return UNCHANGED;
    throw error;
  }
};

const MAX_ATTEMPTS = 40;

/** What a kind of stored value (plain keys, certificates) means for addStoredValue. */
export interface ValueKind {
  /** The stored values that a new one must not duplicate (same fingerprint). */
  blocks: (key: StoredKey) => boolean;
  /** The keyid for a new value, given every stored value. */
  nextId: (stored: StoredKey[]) => number;
  duplicate: (fingerprint: string) => ApiError;
}

export const PLAIN_KEYS: ValueKind = {
  blocks: isPlainKey,
  nextId: nextKeyId,
  duplicate: (fingerprint) => conflict(`SSH key ${fingerprint} is already stored for this user`),
};

/** Whether a value that `kind` counts has this fingerprint. */
const hasFingerprint = (stored: StoredValue[], fingerprint: string, kind: ValueKind): boolean =>
  stored.some(({ key }) => kind.blocks(key) && storedFingerprint(key) === fingerprint);

/**
 * Adds one value with a keyid no other value of the entry has, safely under concurrent additions.
 *
 * LDAP has no "add if no value has this keyid", and reading, choosing and replacing the whole
 * attribute would lose concurrent writes. So: choose the next free keyid, add the value (a single
 * value add, which never touches other values), then read the attribute back. If another value
 * has the same keyid, or the same key, delete ours, wait a random moment, read again and start
 * over (a key now stored by someone else is then a 409). Two writers that chose the same id cannot
 * both keep it: each reads after its own add, so the later add of the two is visible to its own
 * writer's read, and that writer backs off (both may back off; the random pause separates them).
 * This relies on one directory ordering the writes, which a single (or single-master) slapd does.
 */
export const addStoredValue = async (
  journal: Journal,
  dn: string,
  fingerprint: string,
  valueFor: (keyid: number) => string,
  kind: ValueKind,
  initial: StoredValue[],
): Promise<{ raw: string; current: StoredValue[] }> => {
  let current = initial;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    if (hasFingerprint(current, fingerprint, kind)) throw kind.duplicate(fingerprint);
    const keyid = kind.nextId(current.map(({ key: k }) => k));
    const raw = valueFor(keyid);
    await journal.write(
      `add ${fingerprint} to ${dn}`,
      async (client) => {
        try {
          await client.modify(dn, [valueChange('add', raw)]);
        } catch (error) {
          // Only an identical value (same key, same id, same second) can exist already: a duplicate.
          if (error instanceof TypeOrValueExistsError) throw kind.duplicate(fingerprint);
          throw error;
        }
      },
      (client) => deleteKeyValue(client, dn, raw),
    );
    const after = await readKeyValues(journal.client, dn);
    const others = after.filter((v) => v.raw !== raw);
    if (!hasFingerprint(others, fingerprint, kind) && !others.some((v) => keyIdOf(v.key) === keyid)) return { raw, current: after };
    // Taking our value back out makes the undo recorded above a no-op.
    await deleteKeyValue(journal.client, dn, raw);
    await sleep(Math.random() * 5 * Math.min(attempt + 1, 8));
    current = await readKeyValues(journal.client, dn);
  }
  throw apiError(503, 'Too many concurrent key changes for this user, try again');
};

/** Adds one plain key as journal steps (see addStoredValue). */
export const addKeyValue = (
  journal: Journal,
  dn: string,
  key: NewKey,
  dateExpire: string,
  initial: StoredValue[],
): Promise<{ raw: string; current: StoredValue[] }> => addStoredValue(journal, dn, key.fingerprint, (keyid) => keyValue(key, keyid, dateExpire), PLAIN_KEYS, initial);

/**
 * Writes a key plan value by value as journal steps: deletions first (so a key removed and added
 * again in one request is not a duplicate), then additions. Each step's undo puts back or takes
 * out exactly its value, so a failure (a concurrent duplicate, a lost connection) undoes them all.
 * The revocations of the keys removed come at the end of the request (Journal.atEnd): never undone.
 */
export const applyKeyPlan = async (journal: Journal, dn: string, plan: KeyPlan, baseDN: string): Promise<void> => {
  for (const { raw } of plan.remove) {
    await journal.write(`delete a key of ${dn}`, (c) => deleteKeyValue(c, dn, raw), (c) => restoreKeyValue(c, dn, raw));
  }
  let current = plan.remaining;
  for (const key of plan.add) current = (await addKeyValue(journal, dn, key, plan.dateExpire, current)).current;
  journal.atEnd(`revoke the keys removed from ${dn}`, (c) => revokeRemovedKeys(c, baseDN, plan));
};
