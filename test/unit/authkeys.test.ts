// The authkeys decisions (lib/authkeys.ts) without a directory: which stored keys a login on a
// host gets, for every state a key and its user can be in, and that nothing but valid key lines
// ever comes out.
import { describe, expect, it } from 'vitest';
import {
  answersTo,
  AuthkeysParamsSchema,
  authkeysBody,
  canMatch,
  decide,
  isForHost,
  isLookupName,
  isUnexpired,
  judgeKey,
  sharedGroups,
  toUserFacts,
  type UserFacts,
} from '../../lib/authkeys.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';

const BASE = 'dc=keyper,dc=example,dc=org';
const group = (name: string): string => `cn=${name},ou=groups,${BASE}`;
const ADMINS = group('KeyperAdmins');
const NOW = new Date(Date.UTC(2030, 5, 15, 12, 0, 0));
const FUTURE = '20300615120001';
const PAST = '20300615115959';

const line1 = ed25519Line('one@laptop');
const line2 = ed25519Line('two@laptop');
const fp = (line: string): string => parsePublicKey(line).fingerprint;

/** A value as stored; fields set to undefined in `extra` are left out (JSON drops them). */
const stored = (line: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ name: 'k', key: line, fingerprint: 'fingerprint' in extra ? undefined : fp(line), hostGroups: [group('web1')], keyid: 0, keytype: 0, dateExpire: FUTURE, ...extra });

const user = (keyValues: string[], extra: Partial<UserFacts> = {}): UserFacts => ({
  dn: `cn=alice,ou=people,${BASE}`,
  locked: false,
  memberOf: [group('web1'), group('demo_servers')],
  keyValues,
  ...extra,
});

const HOST_WEB1 = [group('web1'), group('AllHosts')];

describe('request parameters', () => {
  it('needs username and host, treats an empty fingerprint as none and ignores the rest', () => {
    expect(AuthkeysParamsSchema.safeParse({ host: 'web1' }).success).toBe(false);
    expect(AuthkeysParamsSchema.safeParse({ username: 'alice' }).success).toBe(false);
    expect(AuthkeysParamsSchema.safeParse({ username: '', host: 'web1' }).success).toBe(false);
    expect(AuthkeysParamsSchema.parse({ username: 'alice', host: 'web1', fingerprint: '', key: 'ssh-ed25519#AAAA', serial: '7' })).toEqual({
      username: 'alice',
      host: 'web1',
      fingerprint: undefined,
    });
  });

  it.each([
    ['alice', true],
    ['deploy@prod', true],
    ['Build_Bot', true],
    ['*', false],
    ['alice)(cn=*', false],
    ['a b', false],
    ['x'.repeat(65), false],
    ['', false],
  ])('username %j can match: %s', (name, expected) => {
    expect(isLookupName(name)).toBe(expected);
  });

  it('refuses host names that cannot be hosts before any search', () => {
    expect(canMatch({ username: 'alice', host: 'web1.example.org', fingerprint: undefined })).toBe(true);
    for (const host of ['*', 'web1)(cn=*', '-web1', 'a'.repeat(300), 'web 1']) {
      expect(canMatch({ username: 'alice', host, fingerprint: undefined }), host).toBe(false);
    }
  });
});

describe('pure checks', () => {
  it('shared groups are those in both memberOf lists, compared as DNs', () => {
    const shared = sharedGroups([group('web1'), group('demo_servers')], ['CN=web1, OU=groups, DC=keyper,DC=example,DC=org', group('AllHosts')]);
    expect([...shared]).toEqual([group('web1').toLowerCase()]);
  });

  it('expiry: YYYYMMDDHHMMSS and YYYYMMDD (UTC), anything else is not valid', () => {
    expect(isUnexpired({ dateExpire: FUTURE }, NOW)).toBe(true);
    expect(isUnexpired({ dateExpire: '20300615120000' }, NOW)).toBe(false);
    expect(isUnexpired({ dateExpire: PAST }, NOW)).toBe(false);
    expect(isUnexpired({ dateExpire: '20300616' }, NOW)).toBe(true);
    expect(isUnexpired({ dateExpire: '20300615' }, NOW)).toBe(false);
    for (const dateExpire of [undefined, 20300616, '2030-06-16', '20301332', '20300230', '203006161200', '99999999999999']) {
      expect(isUnexpired({ dateExpire }, NOW), String(dateExpire)).toBe(false);
    }
  });

  it('hostGroups must meet the shared groups; missing or malformed hostGroups never do', () => {
    const groups = new Set([group('web1').toLowerCase()]);
    expect(isForHost({ hostGroups: [group('demo_servers'), 'CN=Web1,OU=Groups,DC=keyper,DC=example,DC=org'] }, groups)).toBe(true);
    expect(isForHost({ hostGroups: [group('demo_servers')] }, groups)).toBe(false);
    expect(isForHost({ hostGroups: group('web1') }, groups)).toBe(false);
    expect(isForHost({}, groups)).toBe(false);
    expect(isForHost({ hostGroups: [42, null] }, groups)).toBe(false);
  });

  it('judgeKey re-validates the stored line and its stored fingerprint', () => {
    const context = { now: NOW, admin: false, groups: new Set([group('web1').toLowerCase()]), fingerprint: undefined };
    const key = JSON.parse(stored(line1)) as Record<string, unknown>;
    expect(judgeKey(key, context)).toEqual({ line: line1 });
    expect(judgeKey({ ...key, key: `command="sh" ${line1}` }, context)).toEqual({ invalid: 'key options such as command= are not allowed' });
    expect(judgeKey({ ...key, key: `${line1}\nssh-ed25519 AAAA` }, context)).toEqual({ invalid: 'key must be a single line' });
    expect(judgeKey({ ...key, fingerprint: fp(line2) }, context)).toEqual({ invalid: 'stored fingerprint does not match the key' });
    expect(judgeKey({ ...key, key: undefined }, context)).toEqual({ invalid: 'key is missing' });
    expect(judgeKey({ ...key, dateExpire: 'soon' }, context)).toEqual({ invalid: 'dateExpire is not a date' });
    expect(judgeKey({ ...key, keytype: 1 }, context)).toEqual({ skip: true });
  });

  it('judgeKey gives a line the same verdict again once its parse is remembered, whatever else the key says', () => {
    const context = { now: NOW, admin: false, groups: new Set([group('web1').toLowerCase()]), fingerprint: undefined };
    const key = JSON.parse(stored(line2)) as Record<string, unknown>;
    const spaced = `  ${line2.replace(' ', '\t ')}  `;
    for (let round = 0; round < 2; round += 1) {
      expect(judgeKey(key, context)).toEqual({ line: line2 });
      // The normalised line is answered, not the stored text.
      expect(judgeKey({ ...key, key: spaced }, context)).toEqual({ line: line2 });
      expect(judgeKey({ ...key, fingerprint: fp(line1) }, context)).toEqual({ invalid: 'stored fingerprint does not match the key' });
      expect(judgeKey({ ...key, key: `${line2}\r` }, context)).toEqual({ invalid: 'key must be a single line' });
      expect(judgeKey(key, { ...context, fingerprint: fp(line1) })).toEqual({ skip: true });
      expect(judgeKey(key, { ...context, revoked: new Set([fp(line2)]) })).toEqual({ skip: true });
    }
  });
});

describe('decide: user × host × key state', () => {
  const run = (users: UserFacts[], host: string[] | undefined, fingerprint?: string) =>
    decide(users, host, { fingerprint }, BASE, NOW);

  const cases: { name: string; users: UserFacts[]; host?: string[] | undefined; fingerprint?: string; lines: string[] }[] = [
    { name: 'a valid key for a group with the host', users: [user([stored(line1)])], lines: [line1] },
    { name: 'an expired key', users: [user([stored(line1, { dateExpire: PAST })])], lines: [] },
    { name: 'a legacy YYYYMMDD expiry in the future, no keytype', users: [user([stored(line1, { dateExpire: '20300616', keytype: undefined })])], lines: [line1] },
    { name: 'a key for another host group the user is in', users: [user([stored(line1, { hostGroups: [group('demo_servers')] })])], lines: [] },
    {
      name: 'a key naming a group of the host the user is not in',
      users: [user([stored(line1, { hostGroups: [group('AllHosts')] })])],
      lines: [],
    },
    { name: 'a locked user', users: [user([stored(line1)], { locked: true })], lines: [] },
    {
      name: 'an administrator: every host, whatever the hostGroups',
      users: [user([stored(line1, { hostGroups: [] })], { memberOf: [ADMINS] })],
      lines: [line1],
    },
    { name: 'an administrator, expired key', users: [user([stored(line1, { dateExpire: PAST })], { memberOf: [ADMINS] })], lines: [] },
    { name: 'a locked administrator', users: [user([stored(line1)], { memberOf: [ADMINS], locked: true })], lines: [] },
    { name: 'an unknown host', users: [user([stored(line1)])], host: undefined, lines: [] },
    { name: 'an unknown host, administrator', users: [user([stored(line1)], { memberOf: [ADMINS] })], host: undefined, lines: [] },
    { name: 'an unknown user', users: [], lines: [] },
    { name: 'fingerprint of the key', users: [user([stored(line1), stored(line2, { keyid: 1 })])], fingerprint: fp(line2), lines: [line2] },
    { name: 'fingerprint of another key', users: [user([stored(line1)])], fingerprint: fp(line2), lines: [] },
    { name: 'fingerprint not in SHA256 form', users: [user([stored(line1)])], fingerprint: 'MD5:00:11', lines: [] },
    {
      name: 'fingerprint of a key stored without fingerprint (computed)',
      users: [user([stored(line1, { fingerprint: undefined })])],
      fingerprint: fp(line1),
      lines: [line1],
    },
    { name: 'two keys, in stored order', users: [user([stored(line2, { keyid: 1 }), stored(line1)])], lines: [line2, line1] },
    {
      name: 'invalid stored values are skipped, the valid one stays',
      users: [user(['not json', '[1]', stored('ssh-dss AAAAB3NzaC1kc3M= x', { fingerprint: undefined }), stored(line1)])],
      lines: [line1],
    },
    {
      name: 'a certificate value (keytype 1) is not a key',
      users: [user([stored(line1, { keytype: 1, keyid: 100 })])],
      lines: [],
    },
    {
      name: 'two users matched (name and principal): both unlocked users\' keys, once each',
      users: [user([stored(line1)]), user([stored(line2), stored(line1)], { dn: `cn=bob,ou=people,${BASE}` })],
      lines: [line1, line2],
    },
    {
      name: 'two users matched, one locked',
      users: [user([stored(line1)], { locked: true }), user([stored(line2)], { dn: `cn=bob,ou=people,${BASE}` })],
      lines: [line2],
    },
  ];

  it.each(cases)('$name', (testCase) => {
    const host = 'host' in testCase ? testCase.host : HOST_WEB1;
    expect(run(testCase.users, host, testCase.fingerprint).lines).toEqual(testCase.lines);
  });

  it('reports the invalid stored values it skipped, with user and keyid', () => {
    const decision = run([user([stored('ssh-dss AAAAB3NzaC1kc3M= x', { keyid: 3, fingerprint: undefined })])], HOST_WEB1);
    expect(decision).toEqual({ lines: [], invalid: [{ user: `cn=alice,ou=people,${BASE}`, keyid: 3, reason: 'ssh-dss keys are not accepted' }] });
  });
});

describe('toUserFacts: which locks withhold the keys', () => {
  const entry = { dn: `cn=alice,ou=people,${BASE}`, memberOf: [group('web1')], sshPublicKey: [stored(line1)] };
  it.each<[string, Record<string, string | string[]>, boolean]>([
    ['no lock', {}, false],
    ['a lock ppolicy wrote after failed binds', { pwdAccountLockedTime: '20261127112231Z', pwdFailureTime: ['20261127112231.580729Z', '20261127112231.603674Z'] }, false],
    ['this API\'s lock', { pwdAccountLockedTime: '000001010000Z' }, true],
    ['Keyper\'s lock', { pwdAccountLockedTime: '20210101120000Z' }, true],
    ['Keyper\'s lock after older failed logins', { pwdAccountLockedTime: '20261127113000Z', pwdFailureTime: '20261127112231.580729Z' }, true],
  ])('%s', (_, lock, locked) => {
    expect(toUserFacts({ ...entry, ...lock }).locked).toBe(locked);
  });
});

describe('the response body', () => {
  it('one line per key, each ending in a newline; nothing when there are none', () => {
    expect(authkeysBody([])).toBe('');
    expect(authkeysBody([line1, line2])).toBe(`${line1}\n${line2}\n`);
  });
});

describe('which found users a login name names', () => {
  const entry = { dn: `cn=alice,ou=people,${BASE}`, cn: 'alice', pseudonym: ['deploy', 'Ops'] };

  it('the exact login name or an exact principal, case included', () => {
    expect(answersTo(entry, 'alice')).toBe(true);
    expect(answersTo(entry, 'deploy')).toBe(true);
    expect(answersTo(entry, 'Ops')).toBe(true);
    for (const other of ['ALICE', 'Alice', 'Deploy', 'ops', 'bob', '']) expect(answersTo(entry, other), other).toBe(false);
  });

  it('a single principal comes back from ldapts as a string, not a list', () => {
    expect(answersTo({ dn: entry.dn, cn: 'alice', pseudonym: 'deploy' }, 'deploy')).toBe(true);
    expect(answersTo({ dn: entry.dn, cn: 'alice' }, 'deploy')).toBe(false);
  });
});
