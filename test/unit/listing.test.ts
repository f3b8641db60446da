// Pure parts of lists and large groups: the name order, names out of DNs, cursors, list query
// parameters, the one-pass entry normalisation, and DN diffs and member lists of any size.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { attributesOf, value, values } from '../../lib/directory.js';
import { diffDNs } from '../../lib/dn.js';
import { isApiError } from '../../lib/errors.js';
import { parseInput } from '../../lib/input.js';
import { placeholderMember } from '../../lib/layout.js';
import { decodeCursor, encodeCursor, nameKey, parseListQuery, rdnValue } from '../../lib/listing.js';
import { realMembers } from '../../lib/membership.js';
import { GroupUpdateSchema } from '../../lib/groups.js';

const BASE = 'dc=keyper,dc=example,dc=org';
const query = (params: Record<string, string>) => ({ queryStringParameters: params }) as unknown as APIGatewayProxyEventV2;

const refusal = (work: () => unknown): { statusCode: number; body: { msg: string; errors?: Record<string, string> } } => {
  try {
    work();
  } catch (error) {
    if (isApiError(error)) return error as never;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('names', () => {
  it('order as OpenLDAP\'s caseIgnoreOrderingMatch: case folded to lower, spaces trimmed and collapsed, then code order', () => {
    // Folding to lower case puts '_' (0x5F) before letters; folding to upper would put it after.
    const names = ['Zeta', 'alpha', 'a_b', 'aZ', 'a-b', 'a.b', 'a0', 'AllHosts', 'B c', 'b  b'];
    expect([...names].sort((a, b) => (nameKey(a) < nameKey(b) ? -1 : nameKey(a) > nameKey(b) ? 1 : 0))).toEqual([
      'a-b', 'a.b', 'a0', 'a_b', 'AllHosts', 'alpha', 'aZ', 'b  b', 'B c', 'Zeta',
    ]);
    expect(nameKey('  Web1  ')).toBe('web1');
  });

  it('are the values of the first RDN, escapes undone', () => {
    expect(rdnValue(`cn=alice,ou=people,${BASE}`)).toBe('alice');
    expect(rdnValue(`cn=a\\,b,ou=groups,${BASE}`)).toBe('a,b');
    expect(rdnValue(`cn=a\\2Cb\\+c,ou=groups,${BASE}`)).toBe('a,b+c');
    expect(rdnValue(`cn=caf\\C3\\A9,ou=groups,${BASE}`)).toBe('café');
    expect(rdnValue(`cn=x+uid=y,ou=people,${BASE}`)).toBe('x');
    expect(rdnValue('cn=last')).toBe('last');
  });
});

describe('cursors', () => {
  it('round-trip the last name of a page and are opaque URL-safe text', () => {
    for (const name of ['alice', 'a,b', 'café', 'x'.repeat(242)]) {
      const cursor = encodeCursor('user', name);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor('user', cursor)).toBe(name);
    }
  });

  it('of another list, malformed or forged with odd names are a 400 naming the cursor', () => {
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const cursor of [
      encodeCursor('group', 'alice'),
      'not a cursor',
      '%%%',
      Buffer.from('{"k":"user"').toString('base64url'),
      forged({ k: 'user', after: '' }),
      forged({ k: 'user', after: 5 }),
      forged({ k: 'user', after: 'a\nb' }),
      forged({ k: 'user', after: 'x'.repeat(300) }),
      forged(null),
      'A'.repeat(600),
    ]) {
      const refused = refusal(() => decodeCursor('user', cursor));
      expect(refused.statusCode).toBe(400);
      expect(refused.body.errors).toHaveProperty('cursor');
    }
  });
});

describe('list query parameters', () => {
  it('without limit or cursor ask for the whole list (Keyper\'s console)', () => {
    expect(parseListQuery(query({}), 'user')).toEqual({});
    expect(parseListQuery({} as APIGatewayProxyEventV2, 'user')).toEqual({});
    expect(parseListQuery(query({ q: 'al' }), 'user')).toEqual({ q: 'al' });
    expect(parseListQuery(query({ q: '' }), 'user')).toEqual({});
  });

  it('take a limit of 1 to 1000 and a cursor (which alone pages by 100)', () => {
    expect(parseListQuery(query({ limit: '1' }), 'user')).toEqual({ limit: 1 });
    expect(parseListQuery(query({ limit: '1000', q: 'x*)(' }), 'user')).toEqual({ limit: 1000, q: 'x*)(' });
    expect(parseListQuery(query({ cursor: encodeCursor('host', 'web1') }), 'host')).toEqual({ limit: 100, after: 'web1' });
    for (const limit of ['0', '1001', '-1', '1e3', '10.5', 'abc', '', ' 5', '00001000', '99999']) {
      const refused = refusal(() => parseListQuery(query({ limit }), 'user'));
      expect(refused.statusCode, limit).toBe(400);
      expect(refused.body.errors).toHaveProperty('limit');
    }
  });

  it('refuse a q that is too long or holds control characters', () => {
    for (const q of ['x'.repeat(101), 'a\u0000b', 'a\nb']) expect(refusal(() => parseListQuery(query({ q }), 'user')).body.errors).toHaveProperty('q');
  });
});

describe('entries', () => {
  it('are normalised once and looked up in any case, values as fresh string arrays', () => {
    const entry = { dn: 'cn=a', CN: 'a', memberOf: ['g1', 'g2'], photo: Buffer.from('ü'), empty: [] as string[] };
    expect(attributesOf(entry)).toBe(attributesOf(entry));
    expect(value(entry, 'cn')).toBe('a');
    expect(values(entry, 'MEMBEROF')).toEqual(['g1', 'g2']);
    values(entry, 'memberof').push('changed');
    expect(values(entry, 'memberOf')).toEqual(['g1', 'g2']);
    expect(value(entry, 'photo')).toBe('ü');
    expect(values(entry, 'empty')).toEqual([]);
    expect(value(entry, 'absent')).toBeUndefined();
  });
});

describe('large groups', () => {
  const member = (i: number) => `cn=user${i},ou=people,${BASE}`;
  const many = Array.from({ length: 20_000 }, (_, i) => member(i));

  it('diff 20,000 members against 20,000 by value, comparing as LDAP does', () => {
    const wanted = [...many.slice(1).map((dn) => dn.toUpperCase()), member(20_000).replace(',', ' , ')];
    expect(diffDNs(many, wanted)).toEqual({ add: [member(20_000).replace(',', ' , ')], remove: [member(0)] });
    expect(diffDNs(many, [...many].reverse())).toEqual({ add: [], remove: [] });
  });

  it('show members without the placeholder, in any spelling of it', () => {
    const placeholder = placeholderMember(BASE);
    expect(realMembers([...many, placeholder.toUpperCase(), placeholder.replace(',', ' , ')], BASE)).toEqual(many);
    expect(realMembers([`cn=placeholder2,ou=people,${BASE}`], BASE)).toEqual([`cn=placeholder2,ou=people,${BASE}`]);
  });

  it('accept a member list of 20,000 (the schema took at most 1000)', () => {
    expect(parseInput(GroupUpdateSchema, { members: many }).members).toHaveLength(20_000);
    expect(refusal(() => parseInput(GroupUpdateSchema, { members: [...many, ...many, ...many, ...many, ...many, ...many] })).statusCode).toBe(400);
  });
});
