// Pure mapping between directory entries and JSON, DN handling, sessions and error mapping.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { AlreadyExistsError, InvalidCredentialsError, NoSuchObjectError } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { diffDNs, entityDN, normalizeDN, parseEntityDN, sameDN } from '../../lib/dn.js';
import { budgetFor, OutOfTimeError, RESPONSE_MARGIN_MS } from '../../lib/budget.js';
import { ConnectionLostError, isConnectionFailure } from '../../lib/directory.js';
import { apiError, toApiError } from '../../lib/errors.js';
import { expiredRevocations, isRevoked, parseRevocation, revocationValue } from '../../lib/sessions.js';
import { buildUserEntry, toUserJson, UserCreateSchema } from '../../lib/users.js';
import { duration, durationUnit, mergeInfo, parseInfo } from '../../lib/validity.js';
import * as z from '../../lib/zod.js';

const BASE = 'dc=keyper,dc=example,dc=org';

describe('DNs', () => {
  it('escape values when building and parse only allowlisted names back', () => {
    expect(entityDN('user', 'alice', BASE)).toBe(`cn=alice,ou=people,${BASE}`);
    expect(entityDN('group', 'a,b', BASE)).toBe(`cn=a\\,b,ou=groups,${BASE}`);
    expect(parseEntityDN(`CN=Web1 , OU=Hosts,${BASE.toUpperCase()}`, BASE)).toEqual({ kind: 'host', name: 'Web1' });
    expect(parseEntityDN(`cn=alice,ou=people,${BASE}`, BASE)).toEqual({ kind: 'user', name: 'alice' });
    for (const dn of [`cn=*,ou=people,${BASE}`, `cn=a,ou=x,ou=people,${BASE}`, `cn=alice,ou=people,dc=other`, `uid=alice,ou=people,${BASE}`, '']) {
      expect(parseEntityDN(dn, BASE)).toBeUndefined();
    }
  });

  it('compare as LDAP does: case and spacing of names and values', () => {
    expect(normalizeDN('CN=KeyperAdmins, OU=groups,DC=Keyper')).toBe('cn=keyperadmins,ou=groups,dc=keyper');
    expect(sameDN(`cn=KeyperAdmins,ou=groups,${BASE}`, `cn=keyperadmins, ou=Groups, ${BASE}`)).toBe(true);
    expect(diffDNs(['cn=A,ou=g', 'cn=B,ou=g'], ['cn=b, OU=g', 'cn=C,ou=g'])).toEqual({ add: ['cn=C,ou=g'], remove: ['cn=A,ou=g'] });
  });
});

describe('users', () => {
  const entry = {
    dn: `cn=carol,ou=people,${BASE}`,
    cn: 'carol', uid: 'carol', sn: 'C', givenName: 'Carol', info: '{"duration": "30", "durationUnit": "Weeks"}',
    pseudonym: ['c1', 'c2'], memberOf: `cn=g,ou=groups,${BASE}`, pwdAccountLockedTime: '20210101120000Z',
    sshPublicKey: ['{"keyid": 0, "name": "a"}', '{"keyid": 100, "keytype": 1}', 'not json'],
  };

  it('map an entry to Keyper\'s JSON (string duration, keys by type, lock state)', () => {
    expect(toUserJson(entry)).toEqual({
      dn: entry.dn, cn: 'carol', uid: 'carol', sn: 'C', givenName: 'Carol', accountLocked: true, lockReason: 'administrator', pwdAccountLockedTime: '20210101120000Z',
      memberOfs: [`cn=g,ou=groups,${BASE}`], principal: ['c1', 'c2'], duration: 30, durationUnit: 'Weeks',
      sshPublicKeys: [{ keyid: 0, name: 'a' }], sshPublicCerts: [{ keyid: 100, keytype: 1 }],
    });
  });

  it('show a lock that failed logins caused as locked, with its reason', () => {
    const failed = { ...entry, pwdAccountLockedTime: '20261127112231Z', pwdFailureTime: ['20261127112230.1Z', '20261127112231.603674Z'] };
    expect(toUserJson(failed)).toMatchObject({ accountLocked: true, lockReason: 'failures', pwdAccountLockedTime: '20261127112231Z' });
    expect(toUserJson({ ...entry, pwdAccountLockedTime: [] })).not.toHaveProperty('lockReason');
    expect(toUserJson({ ...entry, pwdAccountLockedTime: [] }).accountLocked).toBe(false);
  });

  it('read info with defaults and merge updates keeping other keys', () => {
    expect(parseInfo(undefined)).toEqual({ duration: 1, durationUnit: 'Days' });
    expect(parseInfo('{"duration": 600, "durationUnit": "Days"}')).toEqual({ duration: 1, durationUnit: 'Days' });
    expect(JSON.parse(mergeInfo('{"duration": "30", "durationUnit": "Days", "x": 1}', { duration: 5 }))).toEqual({ duration: 5, durationUnit: 'Days', x: 1 });
  });

  it('read info by the rules of the duration and durationUnit inputs', () => {
    const durations: unknown[] = [1, 30, 500, 0, 501, -1, 1.5, 30.0, '30', '007', '0', '501', '1000', '', ' 3', '3.0', '1e2', null, true, [], {}, Number.NaN];
    const units: unknown[] = ['Hours', 'Days', 'Weeks', 'days', 'Months', '', null, 1, 'toString', '__proto__'];
    const asInput = z.object({ duration, durationUnit });
    for (const d of durations) {
      for (const u of units) {
        const raw = JSON.stringify({ duration: d, durationUnit: u, other: 1 });
        const input = asInput.safeParse(JSON.parse(raw));
        expect(parseInfo(raw), raw).toEqual(input.success ? input.data : { duration: 1, durationUnit: 'Days' });
      }
    }
    for (const raw of ['', 'null', '[]', '[1]', '"x"', '3', '{', '{"duration": 2}', '{"durationUnit": "Weeks"}']) expect(parseInfo(raw), raw).toEqual({ duration: 1, durationUnit: 'Days' });
  });

  it('build a new entry in Keyper\'s layout, without the password', () => {
    const input = UserCreateSchema.parse({
      cn: 'dora', userPassword: 'password1', confirmPassword: 'password1', givenName: 'Dora', sn: 'D', duration: '7', durationUnit: 'Hours', principal: ['x', 'x'],
    });
    expect(buildUserEntry(input)).toEqual({
      objectClass: ['top', 'inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject'],
      cn: 'dora', uid: 'dora', sn: 'D', givenName: 'Dora', pwdAttribute: 'userPassword', info: '{"duration":7,"durationUnit":"Hours"}', pseudonym: ['x'],
    });
  });

  it('accept duration as an integer or digits, 1 to 500', () => {
    expect(duration.parse('30')).toBe(30);
    expect(duration.parse(500)).toBe(500);
    for (const bad of ['0', '501', '', ' 3', '3.0', 0, 1.5, null]) expect(duration.safeParse(bad).success, String(bad)).toBe(false);
  });
});

describe('sessions', () => {
  it('round-trip revocations and prune the expired ones only', () => {
    const sid = '0b5e1f43-0000-4000-8000-000000000000';
    const value = revocationValue({ sid, until: 2000 });
    expect(parseRevocation(value)).toEqual({ sid, until: 2000 });
    expect(parseRevocation('https://example.org')).toBeUndefined();
    expect(isRevoked(['https://example.org', value], sid)).toBe(true);
    expect(isRevoked([value], 'other')).toBe(false);
    expect(expiredRevocations(['https://example.org', value], 1999)).toEqual([]);
    expect(expiredRevocations(['https://example.org', value], 2001)).toEqual([value]);
  });
});

describe('errors', () => {
  it('map directory failures to statuses without their text', () => {
    expect(toApiError(new NoSuchObjectError('slapd says x')).body).toEqual({ msg: 'Not found' });
    expect(toApiError(new AlreadyExistsError('slapd says y')).statusCode).toBe(409);
    expect(toApiError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).body).toEqual({ msg: 'Directory unavailable' });
    expect(toApiError(new Error('Connection timeout after 3000ms')).statusCode).toBe(503);
    const other = toApiError(new InvalidCredentialsError('secret detail'));
    expect(other.statusCode).toBe(500);
    expect(other.message).not.toContain('secret detail');
    const own = apiError(400, 'x', { errors: { a: 'b' } });
    expect(toApiError(own)).toBe(own);
    expect(JSON.parse(own.message)).toEqual({ msg: 'x', errors: { a: 'b' } });
  });

  it('answer 503 to every timeout: Middy\'s, an abort, the time budget\'s, a lost connection', () => {
    // What Middy's default timeoutEarlyResponse throws when the deadline comes first.
    const middy = Object.assign(new Error('[AbortError]: The operation was aborted.'), { name: 'TimeoutError' });
    const abort = new DOMException('This operation was aborted', 'AbortError');
    for (const error of [middy, abort, new OutOfTimeError('No time left for a directory write', false), new ConnectionLostError()]) {
      expect(toApiError(error).statusCode, String(error)).toBe(503);
      expect(toApiError(error).body).toEqual({ msg: 'Directory unavailable' });
    }
  });
});

describe('connection failures', () => {
  it('never take a TLS error for an unreachable server, whatever words the certificate\'s names put in its message', () => {
    const names = 'DNS:connection-timeout.attacker.example, DNS:socket-closed.attacker.example';
    const wrongHost = checkServerIdentity('ldap1.example.org', { subject: { CN: 'x' }, subjectaltname: names } as PeerCertificate);
    expect(wrongHost?.message).toMatch(/timeout/);
    const coded = (code: string) => Object.assign(new Error(`${code}: connection timeout, socket closed (${names})`), { code });
    const tlsErrors = [wrongHost, ...['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'].map(coded)];
    for (const error of tlsErrors) expect(isConnectionFailure(error), String(error)).toBe(false);
  });

  it('are told by their code, and by their words only for ldapts\' own errors, which have none', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'ERR_SOCKET_CONNECTION_TIMEOUT']) {
      expect(isConnectionFailure(Object.assign(new Error(`connect ${code}`), { code })), code).toBe(true);
    }
    for (const message of ['Connection timeout', 'SearchRequest: Operation timed out', 'Connection closed before message response was received', 'Socket connection not established']) {
      expect(isConnectionFailure(new Error(message)), message).toBe(true);
    }
    expect(isConnectionFailure(new Error('Unknown change operation'))).toBe(false);
  });
});

describe('time budget', () => {
  it('keeps the undo reserve and a margin for the answer out of the work\'s time', () => {
    const signal = new AbortController().signal;
    expect(budgetFor(10_000, 2_000, signal, 1_000_000)).toEqual({ end: 1_000_000 + 10_000 - RESPONSE_MARGIN_MS, workEnd: 1_000_000 + 8_000 - RESPONSE_MARGIN_MS, signal });
    expect(budgetFor(undefined, 2_000, undefined, 5)).toEqual({ end: Infinity, workEnd: Infinity });
  });
});
