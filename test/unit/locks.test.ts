// Who locked an account, and whether the lock still holds (lib/locks.ts), from the values each
// writer really stores: slapd's ppolicy after failed binds (the lock's second and failure times
// with microseconds, as OpenLDAP 2.5 writes them), this API (000001010000Z) and Keyper (the time
// of the lock, nothing else).
import { describe, expect, it } from 'vitest';
import { failuresLockEnds, lockChanges, lockFacts, lockState, type LockFacts } from '../../lib/locks.js';

const DN = 'cn=carol,ou=people,dc=keyper,dc=example,dc=org';

/** Five failed binds within one second, then the lock ppolicy wrote with the fifth. */
const PPOLICY: LockFacts = {
  lockedTime: '20261127112231Z',
  failureTimes: ['20261127112231.580729Z', '20261127112231.588055Z', '20261127112231.593392Z', '20261127112231.598546Z', '20261127112231.603674Z'],
};
const LOCKED_AT = Date.UTC(2026, 10, 27, 11, 22, 31);
const API_LOCK: LockFacts = { lockedTime: '000001010000Z', failureTimes: [] };
const KEYPER_LOCK: LockFacts = { lockedTime: '20210101120000Z', failureTimes: [] };
const at = (ms: number): { now: Date; lockoutSeconds: number } => ({ now: new Date(ms), lockoutSeconds: 900 });

describe('lockFacts', () => {
  it('reads both attributes, single- or multi-valued, in any case', () => {
    expect(lockFacts({ dn: DN })).toEqual({ lockedTime: undefined, failureTimes: [] });
    expect(lockFacts({ dn: DN, pwdaccountlockedtime: '000001010000Z', pwdFailureTime: '20261127112231.1Z' })).toEqual({
      lockedTime: '000001010000Z',
      failureTimes: ['20261127112231.1Z'],
    });
    expect(lockFacts({ dn: DN, pwdAccountLockedTime: PPOLICY.lockedTime!, pwdFailureTime: PPOLICY.failureTimes })).toEqual(PPOLICY);
  });
});

describe('lockState', () => {
  it.each<[string, LockFacts, string]>([
    ['no lock', { lockedTime: undefined, failureTimes: [] }, 'none'],
    ['failed logins below the limit, no lock', { lockedTime: undefined, failureTimes: PPOLICY.failureTimes.slice(0, 4) }, 'none'],
    ['a lock ppolicy wrote after failed binds', PPOLICY, 'failures'],
    ['a lock ppolicy wrote, the failure times at another precision', { lockedTime: '20261127112231Z', failureTimes: ['20261127112231Z'] }, 'failures'],
    ['this API\'s lock', API_LOCK, 'administrator'],
    ['this API\'s lock over failure times left from before', { ...API_LOCK, failureTimes: PPOLICY.failureTimes }, 'administrator'],
    ['Keyper\'s lock (the time of the lock, no failures)', KEYPER_LOCK, 'administrator'],
    ['Keyper\'s lock of an account with older failed logins', { lockedTime: '20261127113000Z', failureTimes: PPOLICY.failureTimes }, 'administrator'],
    ['a lock value that is no time at all (fails closed)', { lockedTime: 'yes', failureTimes: PPOLICY.failureTimes }, 'administrator'],
  ])('%s: %s', (_, facts, state) => {
    expect(lockState(facts)).toBe(state);
  });

  it('ends a failures lock after the lockout duration, never an administrator\'s', () => {
    expect(lockState(PPOLICY, at(LOCKED_AT + 899_000))).toBe('failures');
    expect(lockState(PPOLICY, at(LOCKED_AT + 900_000))).toBe('none');
    expect(lockState(KEYPER_LOCK, at(LOCKED_AT + 900_000))).toBe('administrator');
    expect(lockState(API_LOCK, at(LOCKED_AT))).toBe('administrator');
    expect(failuresLockEnds(PPOLICY, 900)).toEqual(new Date(LOCKED_AT + 900_000));
    expect(failuresLockEnds(KEYPER_LOCK, 900)).toBeUndefined();
    expect(failuresLockEnds(API_LOCK, 900)).toBeUndefined();
  });
});

describe('lockChanges', () => {
  const described = (...args: Parameters<typeof lockChanges>) =>
    lockChanges(...args).map((change) => ({ operation: change.operation, type: change.modification.type, values: change.modification.values }));
  const NONE: LockFacts = { lockedTime: undefined, failureTimes: [] };
  const lock = [
    { operation: 'replace', type: 'pwdAccountLockedTime', values: ['000001010000Z'] },
    { operation: 'replace', type: 'pwdFailureTime', values: [] },
  ];
  const unlock = [
    { operation: 'replace', type: 'pwdAccountLockedTime', values: [] },
    { operation: 'replace', type: 'pwdFailureTime', values: [] },
  ];

  it('locks unambiguously: the administrator value, and no failure times', () => {
    expect(described(NONE, true, false)).toEqual(lock);
    expect(described({ lockedTime: undefined, failureTimes: PPOLICY.failureTimes.slice(0, 3) }, true, false)).toEqual(lock);
    // A lock that failed logins caused becomes an administrator's lock.
    expect(described(PPOLICY, true, false)).toEqual(lock);
    expect(described(PPOLICY, true, true)).toEqual(lock);
    // An administrator's lock (Keyper's time included) is left as it is.
    expect(described(KEYPER_LOCK, true, false)).toEqual([]);
    expect(described(API_LOCK, true, false)).toEqual([]);
  });

  it('unlocks either lock and clears the failure count, whatever it was', () => {
    for (const facts of [NONE, PPOLICY, API_LOCK, KEYPER_LOCK]) {
      expect(described(facts, false, false)).toEqual(unlock);
      expect(described(facts, false, true)).toEqual(unlock);
    }
  });

  it('writes an administrator\'s lock back after a new password (which lifts every lock in slapd)', () => {
    expect(described(KEYPER_LOCK, undefined, true)).toEqual([{ operation: 'replace', type: 'pwdAccountLockedTime', values: ['20210101120000Z'] }]);
    expect(described(KEYPER_LOCK, true, true)).toEqual([{ operation: 'replace', type: 'pwdAccountLockedTime', values: ['20210101120000Z'] }]);
    expect(described(API_LOCK, undefined, true)).toEqual([{ operation: 'replace', type: 'pwdAccountLockedTime', values: ['000001010000Z'] }]);
    // A lock by failed logins is lifted by the new password; without one, nothing is written.
    expect(described(PPOLICY, undefined, true)).toEqual([]);
    expect(described(NONE, undefined, true)).toEqual([]);
    expect(described(PPOLICY, undefined, false)).toEqual([]);
  });
});
