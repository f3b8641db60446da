// Logging in: password check by user bind, lockouts, token issue. Logging out: lib/logout.ts.
import { InvalidCredentialsError, NoSuchAttributeError, type Client, type Entry } from 'ldapts';
import { present } from './input.js';
import * as z from './zod.js';
import { isAdminMember } from './auth.js';
import type { Config } from './config.js';
import { withDirectory, readEntry, value, values } from './directory.js';
import { USER_NAME } from './dn.js';
import { apiError, badRequest, unauthorized, type ApiError } from './errors.js';
import { clearFailures, expiredLockChange, failuresLockEnds, LOCK_ATTRIBUTES, lockFacts, lockState, RELAX_RULES, type LockFacts } from './locks.js';
import { log } from './log.js';
import { count } from './metrics.js';
import { MAX_PASSWORD_LENGTH } from './passwords.js';
import { currentGeneration, SESSION_ATTRIBUTES } from './sessions.js';
import { issueToken, newSessionId } from './tokens.js';
import { readUser, toUserJson, userDN, type UserJson } from './users.js';
import { allOrNothing, replace, restoring, UNCHANGED } from './writes.js';

/** The same answer for an unknown user and a wrong password: no user enumeration. */
const BAD_CREDENTIALS = 'Bad username or password';

/** The body of POST /api/login. */
export const LoginSchema = /* @__PURE__ */ z.object({
  username: z.string().check(z.minLength(1, 'is required'), z.maxLength(100, 'must be at most 100 characters')),
  password: z.string().check(z.maxLength(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)),
});

export type LoginResult = UserJson & { access_token: string; refresh_token: string };

/** True when the directory accepts the password for `dn` (a failed bind counts toward lockout). */
const passwordAccepted = async (dn: string, password: string, cfg: Config): Promise<boolean> => {
  if (password.trim() === '') return false; // an anonymous bind: see checkPassword
  try {
    await withDirectory(async () => undefined, { dn, password }, cfg.ldap);
    return true;
  } catch (error) {
    if (error instanceof InvalidCredentialsError) return false;
    throw error;
  }
};

/** Why a password was not accepted: a wrong password (or no such user), or a lock and when it ends. */
export type PasswordRefusal = { locked: false } | { locked: true; ends?: Date };

/** The refusal for a lock found in `facts` (with when it ends, for a lock by failed logins). */
const lockRefusal = (facts: LockFacts, cfg: Config): PasswordRefusal => ({ locked: true, ...present('ends', failuresLockEnds(facts, cfg.lockoutSeconds)) });

const retryAfter = (ends: Date): number => Math.max(1, Math.ceil((ends.getTime() - Date.now()) / 1000));

/** 401 for a locked account; a lock by failed logins also says in how many seconds it ends. */
const accountLocked = (ends?: Date): ApiError =>
  apiError(401, 'Account is locked', ends === undefined ? {} : { retryAfter: retryAfter(ends) });

/**
 * Before the bind: a lock in effect is refused without binding (slapd would end any lock holding
 * a time, Keyper's administrator locks included, at the first bind after its pwdLockoutDuration),
 * and a lock by failed logins older than the service's lockout duration is lifted, whatever the
 * directory's own policy says (a pwdLockoutDuration of 0 never ends it).
 */
const admitLogin = async (client: Client, entry: Entry | undefined, username: string, cfg: Config): Promise<PasswordRefusal | undefined> => {
  if (entry === undefined) return undefined;
  const { dn } = entry;
  const facts = lockFacts(entry);
  const lock = lockState(facts, { now: new Date(), lockoutSeconds: cfg.lockoutSeconds });
  if (lock !== 'none') {
    log('warn', 'Login refused: account is locked', { username, lock });
    return lockRefusal(facts, cfg);
  }
  const { lockedTime } = facts;
  if (lockedTime === undefined) return undefined;
  const lifted = await allOrNothing(client, async (journal) => {
    let gone = false;
    await journal.write(
      `lift the expired lock of ${dn}`,
      async (c) => {
        try {
          await c.modify(dn, expiredLockChange(lockedTime));
          return undefined;
        } catch (error) {
          // Lifted, or locked anew, since the read: the bind decides.
          if (!(error instanceof NoSuchAttributeError)) throw error;
          gone = true;
          return UNCHANGED;
        }
      },
      // ppolicy drops the failure times along with the lock: both come back.
      (c) => c.modify(dn, restoring(entry, [replace('pwdAccountLockedTime', []), clearFailures()]), RELAX_RULES),
    );
    if (gone) return false;
    const clear = clearFailures();
    await journal.write(`clear the failed logins of ${dn}`, (c) => c.modify(dn, clear, RELAX_RULES), (c) => c.modify(dn, restoring(entry, [clear]), RELAX_RULES));
    return true;
  });
  if (lifted) log('info', 'Lockout over: lifted', { username });
  return undefined;
};

/**
 * The password check of a login, also used for a `currentPassword`: by a bind as the user (which
 * ppolicy counts), never for a locked account, logged with the login name tried. Answers the
 * entry as read before the bind (lock and session attributes), or why the password was refused.
 */
export const checkPassword = async (client: Client, username: string, password: string, cfg: Config): Promise<{ before: Entry } | PasswordRefusal> => {
  // An empty password would be an anonymous bind, which "succeeds" (RFC 4513 5.1.2): never bind it.
  if (password.trim() === '' || !USER_NAME.test(username)) {
    // The name is left out: a password typed into the name field would be logged.
    log('warn', 'Login failed', { reason: 'not a login name or a blank password' });
    count('LoginFailures');
    return { locked: false };
  }
  const dn = userDN(username, cfg.ldap.baseDN);
  // Read before the password check: a password change or logout everywhere after this read ends
  // the session (lib/sessions.ts).
  const read = await readEntry(client, dn, [...LOCK_ATTRIBUTES, ...SESSION_ATTRIBUTES]);
  const refused = await admitLogin(client, read, username, cfg);
  if (refused !== undefined) return refused;
  if (await passwordAccepted(dn, password, cfg)) return { before: read ?? { dn } };
  const entry = await readEntry(client, dn, LOCK_ATTRIBUTES);
  const facts = entry === undefined ? undefined : lockFacts(entry);
  const lock = facts === undefined ? 'none' : lockState(facts);
  if (facts !== undefined && lock !== 'none') {
    log('warn', lock === 'failures' ? 'Account locked by failed logins' : 'Login refused: account is locked', { username, lock });
    count('LoginFailures');
    if (lock === 'failures') count('Lockouts');
    return lockRefusal(facts, cfg);
  }
  // A name that is no account's is left out (it may be a password typed into the name field).
  log('warn', 'Login failed', entry === undefined ? { reason: 'no such user' } : { username, reason: 'wrong password' });
  count('LoginFailures');
  return { locked: false };
};

/** 400 naming `currentPassword` unless it is the user's password (checked as a login checks it). */
export const assertCurrentPassword = async (client: Client, username: string, password: string, cfg: Config): Promise<void> => {
  const check = await checkPassword(client, username, password, cfg);
  if ('before' in check) return;
  if (!check.locked) throw badRequest('Current password is wrong', { errors: { currentPassword: 'is not the current password' } });
  throw badRequest('Account is locked', {
    ...(check.ends === undefined ? {} : { retryAfter: retryAfter(check.ends) }),
    errors: { currentPassword: 'cannot be checked while the account is locked' },
  });
};

export const loginUser = async (client: Client, username: string, password: string, cfg: Config): Promise<LoginResult> => {
  const check = await checkPassword(client, username, password, cfg);
  if (!('before' in check)) throw check.locked ? accountLocked(check.ends) : unauthorized(BAD_CREDENTIALS);
  const { before } = check;
  const entry = await readUser(client, username, cfg.ldap.baseDN);
  if (lockState(lockFacts(entry)) === 'administrator') {
    log('warn', 'Login refused: account is locked', { username, lock: 'administrator' });
    throw accountLocked();
  }
  const account = value(before, 'entryUUID');
  // Created between the read and the bind: there was no account to bind the session to.
  if (account === undefined) throw unauthorized(BAD_CREDENTIALS);
  const subject = {
    name: username,
    admin: isAdminMember(values(entry, 'memberOf'), cfg.ldap.baseDN),
    sid: newSessionId(),
    account,
    gen: currentGeneration(values(before, 'labeledURI')),
  };
  count('Logins');
  return {
    ...toUserJson(entry),
    access_token: await issueToken(cfg.tokens, 'access', subject),
    refresh_token: await issueToken(cfg.tokens, 'refresh', subject),
  };
};
