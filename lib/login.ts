// Logging in and out: password check by user bind, token issue, session revocation.
import { Attribute, Change, InvalidCredentialsError, type Client } from 'ldapts';
import type { Caller } from './auth.js';
import { CALLER_ATTRIBUTES, isAdminMember } from './auth.js';
import type { Config } from './config.js';
import { withDirectory, readEntry, value, values } from './directory.js';
import { USER_NAME } from './dn.js';
import { unauthorized } from './errors.js';
import { expiredRevocations, revocationValue } from './sessions.js';
import { issueToken, newSessionId } from './tokens.js';
import { readUser, toUserJson, userDN, type UserJson } from './users.js';

/** The same answer for an unknown user and a wrong password: no user enumeration. */
const BAD_CREDENTIALS = 'Bad username or password';

export type LoginResult = UserJson & { access_token: string; refresh_token: string };

/** True when the directory accepts the password for `dn` (a failed bind counts toward lockout). */
const passwordAccepted = async (dn: string, password: string, cfg: Config): Promise<boolean> => {
  try {
    await withDirectory(async () => undefined, { dn, password }, cfg.ldap);
    return true;
  } catch (error) {
    if (error instanceof InvalidCredentialsError) return false;
    throw error;
  }
};

export const loginUser = async (client: Client, username: string, password: string, cfg: Config): Promise<LoginResult> => {
  // An empty password would be an anonymous bind, which "succeeds" (RFC 4513 5.1.2): never bind it.
  if (password.trim() === '' || !USER_NAME.test(username)) throw unauthorized(BAD_CREDENTIALS);
  const dn = userDN(username, cfg.ldap.baseDN);
  if (!(await passwordAccepted(dn, password, cfg))) {
    const entry = await readEntry(client, dn, ['pwdAccountLockedTime']);
    if (entry !== undefined && value(entry, 'pwdAccountLockedTime') !== undefined) throw unauthorized('Account is locked');
    throw unauthorized(BAD_CREDENTIALS);
  }
  const entry = await readUser(client, username, cfg.ldap.baseDN);
  if (value(entry, 'pwdAccountLockedTime') !== undefined) throw unauthorized('Account is locked');
  const admin = isAdminMember(values(entry, 'memberOf'), cfg.ldap.baseDN);
  const sid = newSessionId();
  return {
    ...toUserJson(entry),
    access_token: await issueToken(cfg.tokens, 'access', username, admin, sid),
    refresh_token: await issueToken(cfg.tokens, 'refresh', username, admin, sid),
  };
};

/** Records the session as revoked on the user's entry and prunes revocations that have expired. */
export const revokeSession = async (client: Client, caller: Caller, refreshTtlSeconds: number): Promise<void> => {
  const now = Math.floor(Date.now() / 1000);
  const entry = await readEntry(client, caller.dn, CALLER_ATTRIBUTES);
  const stale = expiredRevocations(values(entry ?? { dn: caller.dn }, 'labeledURI'), now);
  const changes = [
    new Change({
      operation: 'add',
      modification: new Attribute({ type: 'labeledURI', values: [revocationValue({ sid: caller.claims.sid, until: now + refreshTtlSeconds })] }),
    }),
    ...(stale.length === 0 ? [] : [new Change({ operation: 'delete', modification: new Attribute({ type: 'labeledURI', values: stale }) })]),
  ];
  await client.modify(caller.dn, changes);
};
