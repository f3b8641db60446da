// The pure part of key storage (lib/keys.ts): Keyper's value format, expiry dates, keyid
// numbering, and the checks a request's key changes pass before anything is written.
import { describe, expect, it } from 'vitest';
import {
  expiryAfter,
  formatExpiry,
  initialKeyValues,
  keyChanges,
  keyValue,
  nextKeyId,
  parseExpiry,
  planKeyChanges,
  storedValues,
  valuesToRemove,
  type KeyChange,
} from '../../lib/keys.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { isApiError } from '../../lib/errors.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';

const BASE = 'dc=keyper,dc=example,dc=org';
const group = (name: string): string => `cn=${name},ou=groups,${BASE}`;
const line1 = ed25519Line('one');
const line2 = ed25519Line('two');
const fp = (line: string): string => parsePublicKey(line).fingerprint;

/** The status and body of the API error `work` throws. */
const failure = (work: () => unknown): { status: number; body: Record<string, unknown> } => {
  try {
    work();
  } catch (error) {
    if (isApiError(error)) return { status: error.statusCode, body: error.body };
    throw error;
  }
  throw new Error('expected an API error');
};

describe('dateExpire', () => {
  it('formats UTC YYYYMMDDHHMMSS and adds the user\'s validity', () => {
    const now = new Date(Date.UTC(2024, 1, 28, 23, 30, 5));
    expect(formatExpiry(now)).toBe('20240228233005');
    expect(expiryAfter(now, { duration: 1, durationUnit: 'Hours' })).toBe('20240229003005');
    expect(expiryAfter(now, { duration: 2, durationUnit: 'Days' })).toBe('20240301233005');
    expect(expiryAfter(now, { duration: 1, durationUnit: 'Weeks' })).toBe('20240306233005');
  });

  it('parses both of Keyper\'s forms and nothing else', () => {
    expect(parseExpiry('20240229120000')?.toISOString()).toBe('2024-02-29T12:00:00.000Z');
    expect(parseExpiry('20240301')?.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    for (const raw of ['20230229', '20241301', '20240101246000', '2024-03-01', ' 20240301', '202403011', 20240301, null]) {
      expect(parseExpiry(raw), String(raw)).toBeUndefined();
    }
  });
});

describe('keyids', () => {
  it('plain keys number from 0, one past the highest, skipping ids in use by any value', () => {
    expect(nextKeyId([])).toBe(0);
    expect(nextKeyId([{ keyid: 0 }, { keyid: 4, keytype: 0 }])).toBe(5);
    expect(nextKeyId([{ keyid: 100, keytype: 1 }])).toBe(0);
    expect(nextKeyId([{ keyid: 99 }, { keyid: 100, keytype: 1 }])).toBe(101);
    expect(nextKeyId([{ keyid: '7' }, { name: 'no id' }])).toBe(0);
  });

  it('a new user\'s keys are numbered 0..n-1 in Keyper\'s JSON', () => {
    const keys = [
      { name: 'a', key: line1, fingerprint: fp(line1), hostGroups: [group('web1')] },
      { name: 'b', key: line2, fingerprint: fp(line2), hostGroups: [] },
    ];
    const values = initialKeyValues(keys, '20300101000000');
    expect(values.map((v) => JSON.parse(v) as unknown)).toEqual([
      { name: 'a', key: line1, fingerprint: fp(line1), hostGroups: [group('web1')], keyid: 0, keytype: 0, dateExpire: '20300101000000' },
      { name: 'b', key: line2, fingerprint: fp(line2), hostGroups: [], keyid: 1, keytype: 0, dateExpire: '20300101000000' },
    ]);
    expect(Object.keys(JSON.parse(keyValue(keys[0]!, 3, 'x')) as object)).toEqual(['name', 'key', 'fingerprint', 'hostGroups', 'keyid', 'keytype', 'dateExpire']);
  });
});

describe('the sshPublicKeys input', () => {
  it('entries with keyid are removals (anything else in them is kept, unchecked), the rest additions', () => {
    const stored = { keyid: 2, name: '', key: 'whatever Keyper stored', dateExpire: '20200101', extra: true };
    const parsed = keyChanges.parse([stored, { name: 'laptop', key: line1, hostGroups: [group('web1')] }]);
    expect(parsed).toEqual([stored, { name: 'laptop', key: line1, hostGroups: [group('web1')] }]);
  });

  it('names the failing fields of the schema that applies', () => {
    const result = keyChanges.safeParse([{ keyid: 'two' }, { name: 'x', key: line1, keytype: 0 }, { key: line1 }]);
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(['0.keyid', '1', '2.name']);
  });
});

describe('planKeyChanges', () => {
  const memberOf = [group('web1'), group('demo_servers')];
  const add = (line: string, extra: Record<string, unknown> = {}): KeyChange => ({ name: 'k', key: line, hostGroups: [group('web1')], ...extra }) as KeyChange;
  const storedValue = (line: string, keyid: number, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ name: 'k', key: line, fingerprint: fp(line), hostGroups: [group('web1')], keyid, keytype: 0, dateExpire: '20300101000000', ...extra });

  it('normalises the key line and keeps the client\'s fingerprint only when it is right', () => {
    const plan = planKeyChanges([add(`  ${line1.replace(' one', '\tone')}  `, { fingerprint: fp(line1) })], memberOf, [], 'D');
    expect(plan.add).toEqual([{ name: 'k', key: line1, fingerprint: fp(line1), hostGroups: [group('web1')] }]);
    const wrong = failure(() => planKeyChanges([add(line1, { fingerprint: fp(line2) })], memberOf, [], 'D'));
    expect(wrong.status).toBe(400);
    expect(wrong.body.msg).toBe(`Invalid sshPublicKeys.0.fingerprint: does not match the key (${fp(line1)})`);
  });

  it('400 with the parser\'s reason for a malformed key', () => {
    const bad = failure(() => planKeyChanges([add('ssh-dss AAAAB3NzaC1kc3M= x'), add(`from="10.0.0.1" ${line1}`)], memberOf, [], 'D'));
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual({
      'sshPublicKeys.0.key': 'ssh-dss keys are not accepted',
      'sshPublicKeys.1.key': 'key options such as command= are not allowed',
    });
  });

  it('hostGroups must be groups of the user (compared as DNs, stored as memberOf spells them); the 400 names the others', () => {
    const ok = planKeyChanges([add(line1, { hostGroups: ['CN=web1,OU=groups,DC=keyper,DC=example,DC=org'] })], memberOf, [], 'D');
    expect(ok.add[0]?.hostGroups).toEqual([group('web1')]);
    const outside = failure(() => planKeyChanges([add(line1, { hostGroups: [group('web1'), group('web2'), group('KeyperAdmins')] })], memberOf, [], 'D'));
    expect(outside.status).toBe(400);
    expect(outside.body.msg).toBe(`Invalid sshPublicKeys.0.hostGroups: not groups of the user: ${group('web2')}; ${group('KeyperAdmins')}`);
  });

  it('the same key twice, in the request or already stored, is a 409', () => {
    expect(failure(() => planKeyChanges([add(line1), add(line1.replace('one', 'again'))], memberOf, [], 'D')).status).toBe(409);
    const stored = storedValues([storedValue(line1, 0)]);
    const duplicate = failure(() => planKeyChanges([add(line1.replace('one', 'other comment'))], memberOf, stored, 'D'));
    expect(duplicate).toEqual({ status: 409, body: { msg: `SSH key ${fp(line1)} is already stored for this user` } });
    // Legacy values without a fingerprint field count too.
    const legacy = storedValues([JSON.stringify({ name: 'old', key: line1, keyid: 0, dateExpire: '20300101' })]);
    expect(failure(() => planKeyChanges([add(line1)], memberOf, legacy, 'D')).status).toBe(409);
  });

  it('a key removed and added again in one request is not a duplicate', () => {
    const stored = storedValues([storedValue(line1, 0)]);
    const plan = planKeyChanges([{ keyid: 0 }, add(line1)], memberOf, stored, 'D');
    expect(plan.remove.map((v) => v.raw)).toEqual([storedValue(line1, 0)]);
    expect(plan.remaining).toEqual([]);
    expect(plan.add).toHaveLength(1);
  });
});

describe('valuesToRemove', () => {
  const values = storedValues([
    JSON.stringify({ keyid: 0, key: line1, fingerprint: fp(line1) }),
    JSON.stringify({ keyid: 1, key: line2 }),
    JSON.stringify({ keyid: 1, key: line1, fingerprint: fp(line1), keytype: 1 }),
    'not json',
  ]);

  it('matches plain keys by keyid, and by fingerprint too when the request carries one', () => {
    expect(valuesToRemove([{ keyid: 1 }], values).map((v) => v.key.key)).toEqual([line2]);
    expect(valuesToRemove([{ keyid: 0, fingerprint: fp(line1) }], values)).toHaveLength(1);
    expect(valuesToRemove([{ keyid: 0, fingerprint: fp(line2) }], values)).toEqual([]);
    expect(valuesToRemove([{ keyid: 1, fingerprint: fp(line2) }], values)).toHaveLength(1);
    expect(valuesToRemove([{ keyid: 7 }], values)).toEqual([]);
  });
});
