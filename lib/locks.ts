// Account locks: who locked an account and whether the lock still holds, decided from the
// entry's own ppolicy attributes, and the modifications that set and lift a lock.
//
// Three writers put a value in pwdAccountLockedTime. slapd's ppolicy, after pwdMaxFailure failed
// binds: the time of the last failure, whose pwdFailureTime value (with microseconds) falls in
// the same second. This API, for an administrator: 000001010000Z. Keyper, for an administrator:
// the time of the lock, with no failed bind behind it. A bind to a locked account records no
// further failure (OpenLDAP 2.5), so a lock is the failures' exactly when one failure time lies
// in the lock's second; anything else, an unreadable value included, is an administrator's.
import { Attribute, Change, Control, type Entry } from 'ldapts';
import { value, values } from './directory.js';
import { replace } from './writes.js';

/** none; locked by an administrator (until lifted); locked by failed logins (for a while). */
export type LockState = 'none' | 'administrator' | 'failures';

export interface LockFacts {
  lockedTime: string | undefined;
  failureTimes: string[];
}

/** ppolicy's value for "locked until an administrator unlocks", whatever the lockout duration. */
export const LOCKED_FOREVER = '000001010000Z';

/** Both are operational: a search returns them only when they are asked for by name. */
export const LOCK_ATTRIBUTES = ['pwdAccountLockedTime', 'pwdFailureTime'];

/**
 * The Relax Rules control: ppolicy marks pwdFailureTime NO-USER-MODIFICATION, so removing it
 * takes this control and a bind allowed to use it (manage access). Critical, so a directory
 * that will not honour it refuses the change instead of ignoring the control.
 */
export const RELAX_RULES = new Control('1.3.6.1.4.1.4203.666.5.12', { critical: true });

/** A new entry's: no lock, no failed logins. */
export const UNLOCKED: LockFacts = Object.freeze({ lockedTime: undefined, failureTimes: [] });

export const lockFacts = (entry: Entry): LockFacts => ({
  lockedTime: value(entry, 'pwdAccountLockedTime'),
  failureTimes: values(entry, 'pwdFailureTime'),
});

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/;

/** The whole second (ms since the epoch) of a ppolicy time such as 20261127112231.580729Z. */
const secondOf = (time: string): number | undefined => {
  const parts = GENERALIZED_TIME.exec(time)?.slice(1).map(Number);
  if (parts === undefined) return undefined;
  const [year = 0, month = 1, day = 1, hours = 0, minutes = 0, seconds = 0] = parts;
  return Date.UTC(year, month - 1, day, hours, minutes, seconds);
};

/** The second a lock by failed logins began, or undefined for no lock or an administrator's. */
const failuresLockedAt = (facts: LockFacts): number | undefined => {
  const lockedAt = facts.lockedTime === undefined ? undefined : secondOf(facts.lockedTime);
  if (lockedAt === undefined) return undefined;
  return facts.failureTimes.some((time) => secondOf(time) === lockedAt) ? lockedAt : undefined;
};

/**
 * Who holds the account locked. With `expiry`, a lock by failed logins that has lasted
 * `lockoutSeconds` is over ('none'), as slapd judges it at the next bind; without, the entry's
 * lock is reported as long as it is there. An administrator's lock never expires.
 */
export const lockState = (facts: LockFacts, expiry?: { now: Date; lockoutSeconds: number }): LockState => {
  if (facts.lockedTime === undefined) return 'none';
  const lockedAt = failuresLockedAt(facts);
  if (lockedAt === undefined) return 'administrator';
  if (expiry !== undefined && expiry.now.getTime() >= lockedAt + expiry.lockoutSeconds * 1000) return 'none';
  return 'failures';
};

/** When a lock by failed logins ends; undefined when there is none (or it is an administrator's). */
export const failuresLockEnds = (facts: LockFacts, lockoutSeconds: number): Date | undefined => {
  const lockedAt = failuresLockedAt(facts);
  return lockedAt === undefined ? undefined : new Date(lockedAt + lockoutSeconds * 1000);
};

/** Drops the failure count (send with RELAX_RULES); nothing to do when there is none. */
export const clearFailures = (): Change => replace('pwdFailureTime', []);

/**
 * What an administrator's update writes about the lock (send with RELAX_RULES, after the
 * password: ppolicy lifts every lock and the failure count when a password changes).
 * - accountLocked true: 000001010000Z and no failure times, so the lock is never taken for one
 *   that failed logins caused; an administrator's lock (Keyper's time included) stays as it is.
 * - accountLocked false: either lock lifted and the failure count dropped, so one more wrong
 *   password does not lock the account again at once.
 * - a new password alone keeps an administrator's lock (written back as it was) and lifts a lock
 *   by failed logins.
 */
export const lockChanges = (facts: LockFacts, accountLocked: boolean | undefined, passwordChanged: boolean): Change[] => {
  const current = lockState(facts);
  if (accountLocked === false) return [replace('pwdAccountLockedTime', []), clearFailures()];
  if (accountLocked === true && current !== 'administrator') return [replace('pwdAccountLockedTime', [LOCKED_FOREVER]), clearFailures()];
  if (passwordChanged && current === 'administrator' && facts.lockedTime !== undefined) return [replace('pwdAccountLockedTime', [facts.lockedTime])];
  return [];
};

/**
 * Lifts a lock by failed logins that is over: deletes the very lock value that was read, so a
 * lock written since (an administrator's) makes the change fail instead of being lifted. slapd's
 * ppolicy drops pwdFailureTime along with it (OpenLDAP 2.5); clearFailures makes sure.
 */
export const expiredLockChange = (lockedTime: string): Change =>
  new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime', values: [lockedTime] }) });
