// Which stored keys may open an account on a host: the decision behind /api/authkeys, which
// sshd's AuthorizedKeysCommand asks at every login. Pure decisions first (unit-tested), then the
// one directory read at the end: the user search and the host read, sent together.
//
// A key line is written only when all hold: the user (matched by cn or by principal) is not
// locked by an administrator (a lock that failed logins caused locks the password, not the
// keys); the key is a plain key (not a certificate) whose dateExpire is in the future; the
// user is in KeyperAdmins or the key's hostGroups meet the groups that contain both the user and
// the host; the request's fingerprint, if any, is the key's; the key is not revoked
// (lib/revocations.ts); and the stored key line parses as a valid key right now. Anything else, including a stored value that does not parse, is left out
// (fail closed), and nothing from the request is ever echoed.
import { EqualityFilter, OrFilter, type Client, type Entry } from 'ldapts';
import { ADMIN_GROUP, containerDN } from './layout.js';
import * as z from './zod.js';
import { readEntry, searchChildren, values } from './directory.js';
import { entityDN, HOST_NAME, normalizeDN, USER_NAME } from './dn.js';
import { CREDENTIAL_ATTRIBUTE, credentialValues } from './hostcredentials.js';
import { isPlainKey, keyIdOf, parseExpiry, storedValues, type StoredKey } from './keys.js';
import { LOCK_ATTRIBUTES, lockFacts, lockState } from './locks.js';
import { remembered } from './memo.js';
import { parsePublicKey, SshKeyError } from './sshkeys.js';
import { principal } from './validation.js';

/**
 * The request: query string, form or JSON body. Keyper's scripts may also send `key`, `cert` and
 * `serial` (for its revocation checks); like any other extra parameter they are ignored.
 */
export const AuthkeysParamsSchema = /* @__PURE__ */ z.object({
  username: z.string().check(z.minLength(1, 'is required')),
  host: z.string().check(z.minLength(1, 'is required')),
  // sshd's %f is empty for some callers; empty means "no filter", as in Keyper's script.
  fingerprint: z.pipe(
    z.optional(z.string()),
    z.transform((fingerprint) => (fingerprint === '' ? undefined : fingerprint)),
  ),
});
export type AuthkeysParams = z.infer<typeof AuthkeysParamsSchema>;

/** A login name or a principal: anything else cannot name a user, so it gets no keys. */
export const isLookupName = (username: string): boolean => USER_NAME.test(username) || principal.safeParse(username).success;

/** Whether the request can match anything at all (saves the directory a pointless search). */
export const canMatch = (params: AuthkeysParams): boolean => isLookupName(params.username) && HOST_NAME.test(params.host);

/** What the directory says about one user found by the lookup. */
export interface UserFacts {
  dn: string;
  /** Locked by an administrator: no keys. A lock by failed logins does not count here. */
  locked: boolean;
  memberOf: string[];
  /** The raw sshPublicKey values. */
  keyValues: string[];
}

export interface Decision {
  /** authorized_keys lines, each a key that parsed just now, without duplicates. */
  lines: string[];
  /** Stored values that were candidates but are not valid: for the log, never for the client. */
  invalid: { user: string; keyid: number | undefined; reason: string }[];
}

/** normalizeDN, remembered: this runs at every login, and the same few group DNs come up again and again. */
const normalized = remembered(normalizeDN, 10_000);

/** The groups (normalised DNs) that contain both the user and the host, from both memberOf lists. */
export const sharedGroups = (userMemberOf: string[], hostMemberOf: string[]): Set<string> => {
  const hostGroups = new Set(hostMemberOf.map(normalized));
  return new Set(userMemberOf.map(normalized).filter((dn) => hostGroups.has(dn)));
};

export const isUnexpired = (key: StoredKey, now: Date): boolean => {
  const expiry = parseExpiry(key.dateExpire);
  return expiry !== undefined && expiry.getTime() > now.getTime();
};

/** Whether the key is meant for this host: its hostGroups meet the shared groups (DNs normalised). */
export const isForHost = (key: StoredKey, groups: Set<string>): boolean =>
  Array.isArray(key.hostGroups) && key.hostGroups.some((dn) => typeof dn === 'string' && groups.has(normalized(dn)));

interface KeyContext {
  now: Date;
  admin: boolean;
  groups: Set<string>;
  fingerprint: string | undefined;
  /** Revoked key fingerprints among the candidates. */
  revoked?: ReadonlySet<string>;
}

type KeyVerdict = { line: string } | { skip: true } | { invalid: string };

/** What judgeKey takes from parsing a stored key line: its normalised line and fingerprint, or why it is no valid key. */
type LineVerdict = { line: string; fingerprint: string } | { invalid: string };

/**
 * parsePublicKey's verdict on a stored line, remembered: a warm function parses the same users'
 * keys login after login (decoding, checking and hashing them was the largest part of the decision).
 */
const parseStoredLine = remembered((line: string): LineVerdict => {
  try {
    const parsed = parsePublicKey(line);
    return { line: parsed.line === line ? line : parsed.line, fingerprint: parsed.fingerprint };
  } catch (error) {
    if (!(error instanceof SshKeyError)) throw error;
    return { invalid: error.message };
  }
}, 5_000);

/** The verdict on one stored key of an unlocked user. Cheap checks first; the parse last. */
export const judgeKey = (key: StoredKey, context: KeyContext): KeyVerdict => {
  if (!isPlainKey(key)) return { skip: true };
  const expiry = parseExpiry(key.dateExpire);
  if (expiry === undefined) return { invalid: 'dateExpire is not a date' };
  if (expiry.getTime() <= context.now.getTime()) return { skip: true };
  if (!context.admin && !isForHost(key, context.groups)) return { skip: true };
  const storedFingerprint = typeof key.fingerprint === 'string' ? key.fingerprint : undefined;
  if (context.fingerprint !== undefined && storedFingerprint !== undefined && storedFingerprint !== context.fingerprint) return { skip: true };
  if (typeof key.key !== 'string') return { invalid: 'key is missing' };
  const parsed = parseStoredLine(key.key);
  if ('invalid' in parsed) return { invalid: parsed.invalid };
  if (storedFingerprint !== undefined && storedFingerprint !== parsed.fingerprint) return { invalid: 'stored fingerprint does not match the key' };
  if (context.fingerprint !== undefined && parsed.fingerprint !== context.fingerprint) return { skip: true };
  if (context.revoked?.has(parsed.fingerprint) === true) return { skip: true };
  return { line: parsed.line };
};

/** The administrators' group (normalised DN) under `baseDN`, built once per base: the DN builder escapes and allocates. */
const adminGroupOf = remembered((baseDN: string) => normalized(entityDN('group', ADMIN_GROUP, baseDN)), 100);

/**
 * The decision for every user the lookup found. `hostMemberOf` is undefined when the host does
 * not exist: then nobody gets a key, administrators included (they pass every host there is).
 */
export const decide = (
  users: UserFacts[],
  hostMemberOf: string[] | undefined,
  params: Pick<AuthkeysParams, 'fingerprint'>,
  baseDN: string,
  now: Date,
  revoked: ReadonlySet<string> = new Set(),
): Decision => {
  const decision: Decision = { lines: [], invalid: [] };
  if (hostMemberOf === undefined) return decision;
  const admins = adminGroupOf(baseDN);
  for (const user of users) {
    if (user.locked) continue;
    const context: KeyContext = {
      now,
      admin: user.memberOf.some((dn) => normalized(dn) === admins),
      groups: sharedGroups(user.memberOf, hostMemberOf),
      fingerprint: params.fingerprint,
      revoked,
    };
    for (const { key } of storedValues(user.keyValues)) {
      const verdict = judgeKey(key, context);
      if ('line' in verdict && !decision.lines.includes(verdict.line)) decision.lines.push(verdict.line);
      if ('invalid' in verdict) decision.invalid.push({ user: user.dn, keyid: keyIdOf(key), reason: verdict.invalid });
    }
  }
  return decision;
};

/**
 * The fingerprints of the keys that may be answered, for the revocation lookup when the request
 * names no fingerprint (a request with one looks up just that one, in the same round trip).
 */
export const candidateFingerprints = (users: UserFacts[]): string[] =>
  users.flatMap((user) => (user.locked ? [] : storedValues(user.keyValues).flatMap(({ key }) => (isPlainKey(key) && typeof key.fingerprint === 'string' ? [key.fingerprint] : []))));

/**
 * The response body: one key per line, each ending in a newline (as in an authorized_keys file;
 * Keyper left the last one open, which sshd reads the same). No keys: an empty body.
 */
export const authkeysBody = (lines: string[]): string => lines.map((line) => `${line}\n`).join('');

// ---- the directory read ----

/**
 * Users are matched by login name or by principal, one level under ou=people. LDAP compares cn and
 * pseudonym ignoring case, so the search also finds ALICE for alice: answersTo keeps exact matches.
 */
export const userLookupFilter = (username: string): OrFilter =>
  new OrFilter({
    filters: [new EqualityFilter({ attribute: 'cn', value: username }), new EqualityFilter({ attribute: 'pseudonym', value: username })],
  });

export const USER_FACT_ATTRIBUTES = ['cn', 'pseudonym', ...LOCK_ATTRIBUTES, 'memberOf', 'sshPublicKey'];
export const HOST_FACT_ATTRIBUTES = ['memberOf', CREDENTIAL_ATTRIBUTE];

/** Whether a found user has exactly this login name or principal, case included (as sshd compares). */
export const answersTo = (entry: Entry, username: string): boolean =>
  values(entry, 'cn').includes(username) || values(entry, 'pseudonym').includes(username);

export const toUserFacts = (entry: Entry): UserFacts => ({
  dn: entry.dn,
  locked: lockState(lockFacts(entry)) === 'administrator',
  memberOf: values(entry, 'memberOf'),
  keyValues: values(entry, 'sshPublicKey'),
});

/**
 * Reads what the decision needs in one round trip: the user search and the host read go out
 * together on the one connection. Group membership comes from memberOf on both entries, which
 * slapd's memberof overlay maintains from the groups' `member` values (the same source the API's
 * admin checks use), so "groups with member=user and member=host" needs no third search. The
 * host's credential (lib/hostcredentials.ts) comes with the same read.
 */
export const readFacts = async (
  client: Client,
  params: AuthkeysParams,
  baseDN: string,
): Promise<{ users: UserFacts[]; hostMemberOf: string[] | undefined; hostCredentials: string[] }> => {
  const [users, host] = await Promise.all([
    searchChildren(client, containerDN('user', baseDN), userLookupFilter(params.username), USER_FACT_ATTRIBUTES),
    readEntry(client, entityDN('host', params.host, baseDN), HOST_FACT_ATTRIBUTES),
  ]);
  return {
    users: users.filter((entry) => answersTo(entry, params.username)).map(toUserFacts),
    hostMemberOf: host === undefined ? undefined : values(host, 'memberOf'),
    hostCredentials: host === undefined ? [] : credentialValues(values(host, CREDENTIAL_ATTRIBUTE)),
  };
};
