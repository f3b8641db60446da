// The public certificate routes servers call (no token): the certificate lines of a user or host
// (/api/usercert, /api/hostcert) and the principals sshd's AuthorizedPrincipalsCommand asks for
// at every certificate login (/api/authprinc). Pure decisions first, then the reads.
//
// authprinc answers the login name (one line) only when all hold: the user (matched by cn or by
// principal, exact case, as /authkeys matches) is not locked by an administrator; a stored
// certificate of that user certifies the key with the request's fingerprint and has the request's
// serial; it is unexpired; neither its serial (under its CA) nor the key is revoked; and the user
// is in KeyperAdmins or the certificate's host groups meet the groups that contain both the user
// and the host (the authkeys rule). Anything else is an empty answer (sshd then accepts no
// principal), and nothing from the request but the login name it matched is ever echoed.
import type { Client } from 'ldapts';
import { isForHost, isLookupName, isUnexpired, readFacts, sharedGroups, type UserFacts } from './authkeys.js';
import { certificateFacts, isCertificate } from './certs.js';
import { readEntry, value, values } from './directory.js';
import { entityDN, HOST_NAME, normalizeDN, USER_NAME } from './dn.js';
import { CREDENTIAL_ATTRIBUTE, credentialValues } from './hostcredentials.js';
import { keyIdOf, storedValues, type StoredKey } from './keys.js';
import { ADMIN_GROUP } from './layout.js';
import { caHexOf, readCertificateRevocations, type CertificateRevocationFacts } from './revocations.js';
import * as z from './zod.js';

const UINT64_MAX = (1n << 64n) - 1n;

const required = /* @__PURE__ */ z.string().check(z.minLength(1, 'is required'), z.maxLength(300, 'must be at most 300 characters'));

/** sshd's %s: the certificate's serial, in decimal. */
const serial = /* @__PURE__ */ z.pipe(
  z.string().check(z.regex(/^\d{1,20}$/, 'must be a certificate serial (decimal)')),
  z.transform((text, ctx) => {
    const number = BigInt(text);
    if (number <= UINT64_MAX) return number;
    ctx.issues.push({ code: 'custom', input: text, message: 'must be a 64-bit number' });
    return z.NEVER;
  }),
);

/** GET or POST /api/authprinc: `AuthorizedPrincipalsCommand ... %u %f %s` (query, form or JSON). */
export const AuthprincParamsSchema = /* @__PURE__ */ z.strictObject({ username: required, host: required, fingerprint: required, serial });
export type AuthprincParams = z.infer<typeof AuthprincParamsSchema>;

/** An optional keyid filter, as Keyper's routes take it (a whole number). */
const keyid = /* @__PURE__ */ z.optional(z.pipe(z.string().check(z.regex(/^\d{1,7}$/, 'must be a whole number')), z.transform(Number)));
const fingerprint = /* @__PURE__ */ z.optional(z.string().check(z.maxLength(100, 'must be at most 100 characters')));

export const UserCertParamsSchema = /* @__PURE__ */ z.strictObject({ username: required, keyid, fingerprint });
export const HostCertParamsSchema = /* @__PURE__ */ z.strictObject({ hostname: required, keyid, fingerprint });

// ---- certificate lines ----

export interface CertFilter {
  keyid?: number | undefined;
  fingerprint?: string | undefined;
}

/** The unexpired certificate lines among stored values, filtered by keyid and fingerprint as Keyper does. */
export const certificateLines = (raw: string[], filter: CertFilter, now: Date): string[] =>
  storedValues(raw).flatMap(({ key }) => {
    if (!isCertificate(key) || typeof key.cert !== 'string' || /[\r\n]/.test(key.cert) || !isUnexpired(key, now)) return [];
    if (filter.keyid !== undefined && keyIdOf(key) !== filter.keyid) return [];
    if (filter.fingerprint !== undefined && key.fingerprint !== filter.fingerprint) return [];
    return [key.cert];
  });

export const linesBody = (lines: string[]): string => lines.map((line) => `${line}\n`).join('');

/** Whether usercert's parameters name a user that may exist (checked before the directory opens). */
export const canMatchUserCerts = (params: { username: string }): boolean => USER_NAME.test(params.username);

/** Whether hostcert's parameters name a host that may exist (checked before the directory opens). */
export const canMatchHostCerts = (params: { hostname: string }): boolean => HOST_NAME.test(params.hostname);

/** The user's stored values when the name is exactly a user's cn (Keyper looks users up by cn here). */
export const readUserCertValues = async (client: Client, username: string, baseDN: string): Promise<string[]> => {
  if (!canMatchUserCerts({ username })) return [];
  const entry = await readEntry(client, entityDN('user', username, baseDN), ['cn', 'sshPublicKey']);
  return entry !== undefined && values(entry, 'cn').includes(username) ? values(entry, 'sshPublicKey') : [];
};

/** The host's stored values and credential values, or undefined when there is no such host. */
export const readHostCertValues = async (client: Client, hostname: string, baseDN: string): Promise<{ raw: string[]; credentials: string[] } | undefined> => {
  if (!canMatchHostCerts({ hostname })) return undefined;
  const entry = await readEntry(client, entityDN('host', hostname, baseDN), ['cn', 'sshPublicKey', CREDENTIAL_ATTRIBUTE]);
  if (entry === undefined || value(entry, 'cn')?.toLowerCase() !== hostname.toLowerCase()) return undefined;
  return { raw: values(entry, 'sshPublicKey'), credentials: credentialValues(values(entry, CREDENTIAL_ATTRIBUTE)) };
};

// ---- authprinc ----

/** Whether one stored certificate lets the request's certificate in on this host. */
const certificateAdmits = (key: StoredKey, params: AuthprincParams, revocations: CertificateRevocationFacts, admitsHost: boolean, now: Date): boolean => {
  if (!isCertificate(key) || key.fingerprint !== params.fingerprint || !isUnexpired(key, now) || typeof key.cert !== 'string') return false;
  const facts = certificateFacts(key.cert);
  if (facts === undefined || facts.fingerprint !== params.fingerprint || facts.serial !== params.serial) return false;
  if (revocations.certificateRevoked(caHexOf(facts.ca), facts.serial)) return false;
  return admitsHost;
};

/**
 * The principal lines for the users the lookup found. `hostMemberOf` is undefined when the host
 * does not exist (or the request lacks its credential): then nobody gets a principal.
 */
export const decidePrincipals = (
  users: UserFacts[],
  hostMemberOf: string[] | undefined,
  params: AuthprincParams,
  revocations: CertificateRevocationFacts,
  baseDN: string,
  now: Date,
): string[] => {
  if (hostMemberOf === undefined || revocations.keyRevoked) return [];
  const admins = normalizeDN(entityDN('group', ADMIN_GROUP, baseDN));
  for (const user of users) {
    if (user.locked) continue;
    const admin = user.memberOf.some((dn) => normalizeDN(dn) === admins);
    const groups = sharedGroups(user.memberOf, hostMemberOf);
    const admitted = storedValues(user.keyValues).some(({ key }) => certificateAdmits(key, params, revocations, admin || isForHost(key, groups), now));
    if (admitted) return [params.username];
  }
  return [];
};

/** Whether the request can match anything at all (checked before the directory opens). */
export const canMatchPrincipals = (params: AuthprincParams): boolean =>
  isLookupName(params.username) && HOST_NAME.test(params.host) && /^SHA256:[A-Za-z0-9+/]{43}$/.test(params.fingerprint) && params.serial > 0n;

/** Everything authprinc needs, in one round trip: the user search, the host read and the revocations. */
export const readPrincipalFacts = async (client: Client, params: AuthprincParams, baseDN: string) => {
  const [facts, revocations] = await Promise.all([
    readFacts(client, { username: params.username, host: params.host, fingerprint: undefined }, baseDN),
    readCertificateRevocations(client, baseDN, params.serial, params.fingerprint),
  ]);
  return { ...facts, revocations };
};
