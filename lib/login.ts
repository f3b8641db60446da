// Logging in and out: password check by user bind, token issue, session revocation.
import { Attribute, Change, InvalidCredentialsError, NoSuchAttributeError, type Client } from 'ldapts';
import type { Caller } from './auth.js';
import { CALLER_ATTRIBUTES, isAdminMember } from './auth.js';
import type { Config } from './config.js';
import { withDirectory, readEntry, values } from './directory.js';
import { USER_NAME } from './dn.js';
import { apiError, unauthorized, type ApiError } from './errors.js';
import { clearFailures, expiredLockChange, failuresLockEnds, LOCK_ATTRIBUTES, lockFacts, lockState, RELAX_RULES } from './locks.js';
import { log } from './log.js';
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

/** 401 for a locked account; a lock by failed logins also says in how many seconds it ends. */
const accountLocked = (ends?: Date): ApiError =>
  apiError(401, 'Account is locked', ends === undefined ? {} : { retryAfter: Math.max(1, Math.ceil((ends.getTime() - Date.now()) / 1000)) });

/**
 * Before the bind: a lock in effect is refused without binding (slapd would end any lock holding
 * a time, Keyper's administrator locks included, at the first bind after its pwdLockoutDuration),
 * and a lock by failed logins older than the service's lockout duration is lifted, whatever the
 * directory's own policy says (a pwdLockoutDuration of 0 never ends it).
 */
const admitLogin = async (client: Client, dn: string, username: string, cfg: Config): Promise<void> => {
  const entry = await readEntry(client, dn, LOCK_ATTRIBUTES);
  if (entry === undefined) return;
  const facts = lockFacts(entry);
  const lock = lockState(facts, { now: new Date(), lockoutSeconds: cfg.lockoutSeconds });
  if (lock !== 'none') {
    log('warn', 'Login refused: account is locked', { username, lock });
    throw accountLocked(failuresLockEnds(facts, cfg.lockoutSeconds));
  }
  if (facts.lockedTime === undefined) return;
  try {
    await client.modify(dn, expiredLockChange(facts.lockedTime));
  } catch (error) {
    // Lifted, or locked anew, since the read: the bind decides.
    if (error instanceof NoSuchAttributeError) return;
    throw error;
  }
  await client.modify(dn, clearFailures(), RELAX_RULES);
  log('info', 'Lockout over: lifted', { username });
};

export const loginUser = async (client: Client, username: string, password: string, cfg: Config): Promise<LoginResult> => {
  // An empty password would be an anonymous bind, which "succeeds" (RFC 4513 5.1.2): never bind it.
  if (password.trim() === '' || !USER_NAME.test(username)) {
    log('warn', 'Login failed', { username, reason: 'not a login name or a blank password' });
    throw unauthorized(BAD_CREDENTIALS);
  }
  const dn = userDN(username, cfg.ldap.baseDN);
  await admitLogin(client, dn, username, cfg);
  if (!(await passwordAccepted(dn, password, cfg))) {
    const entry = await readEntry(client, dn, LOCK_ATTRIBUTES);
    const facts = entry === undefined ? undefined : lockFacts(entry);
    const lock = facts === undefined ? 'none' : lockState(facts);
    if (facts !== undefined && lock !== 'none') {
      log('warn', lock === 'failures' ? 'Account locked by failed logins' : 'Login refused: account is locked', { username, lock });
      throw accountLocked(failuresLockEnds(facts, cfg.lockoutSeconds));
    }
    log('warn', 'Login failed', { username, reason: entry === undefined ? 'no such user' : 'wrong password' });
    throw unauthorized(BAD_CREDENTIALS);
  }
  const entry = await readUser(client, username, cfg.ldap.baseDN);
  if (lockState(lockFacts(entry)) === 'administrator') {
    log('warn', 'Login refused: account is locked', { username, lock: 'administrator' });
    throw accountLocked();
  }
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
