// Pure parts of groups and hosts: entry ↔ JSON mapping (the placeholder never shows), entry and
// modification builders, input schemas, name limits and case-insensitive DN parsing.
import { Attribute, type Change } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { HOST_NAME, MAX_NAME_LENGTH, parseEntityDN } from '../../lib/dn.js';
import { buildGroupEntry, GroupCreateSchema, GroupUpdateSchema, toGroupJson } from '../../lib/groups.js';
import { buildHostChanges, buildHostEntry, HostCreateSchema, HostUpdateSchema, toHostJson } from '../../lib/hosts.js';
import { isProtectedGroup, placeholderMember } from '../../lib/layout.js';

const BASE = 'dc=keyper,dc=example,dc=org';
const PLACEHOLDER = placeholderMember(BASE);
const alice = `cn=alice,ou=people,${BASE}`;
const web1 = `cn=web1,ou=Hosts,${BASE}`;

/** A Change as plain data: operation, attribute and values. */
const plain = (change: Change) => {
  const modification = change.modification as Attribute;
  return { operation: change.operation, type: modification.type, values: modification.values };
};

describe('group mapping', () => {
  it('always shows members, without the placeholder, and the description only when there is one', () => {
    expect(toGroupJson({ dn: `cn=g,ou=groups,${BASE}`, cn: 'g', member: PLACEHOLDER }, BASE)).toEqual({ dn: `cn=g,ou=groups,${BASE}`, cn: 'g', members: [] });
    expect(toGroupJson({ dn: `cn=g,ou=groups,${BASE}`, cn: 'g', description: 'd', member: [alice, web1] }, BASE)).toEqual({
      dn: `cn=g,ou=groups,${BASE}`, cn: 'g', description: 'd', members: [alice, web1],
    });
    expect(toGroupJson({ dn: `cn=g,ou=groups,${BASE}`, cn: 'g' }, BASE).members).toEqual([]);
  });

  it('builds an empty group around the placeholder', () => {
    expect(buildGroupEntry('g', undefined, [], BASE)).toEqual({ objectClass: ['top', 'groupOfNames'], cn: 'g', member: [PLACEHOLDER] });
    expect(buildGroupEntry('g', 'd', [alice], BASE)).toEqual({ objectClass: ['top', 'groupOfNames'], cn: 'g', description: 'd', member: [alice] });
  });

  it('protects KeyperAdmins and AllHosts in any case', () => {
    for (const name of ['KeyperAdmins', 'keyperadmins', 'AllHosts', 'ALLHOSTS']) expect(isProtectedGroup(name)).toBe(true);
    expect(isProtectedGroup('demo_servers')).toBe(false);
  });

  it('schemas: null and blank descriptions mean none, unknown fields are refused', () => {
    expect(GroupCreateSchema.parse({ cn: 'g', description: null })).toEqual({ cn: 'g', description: null, members: [] });
    expect(GroupUpdateSchema.parse({ description: '  ' })).toEqual({ description: null });
    expect(GroupUpdateSchema.parse({})).toEqual({});
    expect(GroupCreateSchema.safeParse({ cn: 'g', hosts: [] }).success).toBe(false);
    expect(GroupCreateSchema.safeParse({ cn: 'g', description: 'a\u0000' }).success).toBe(false);
  });
});

describe('host mapping', () => {
  it('maps an entry to Keyper\'s host shape, hiding a placeholder owner left by refint', () => {
    const key = { keyid: 100, keytype: 1, cert: 'ssh-ed25519-cert-v01@openssh.com AAAA' };
    const entry = {
      dn: web1, cn: 'web1', owner: PLACEHOLDER, memberOf: [`cn=AllHosts,ou=groups,${BASE}`], pseudonym: 'www',
      info: '{"duration": "12", "durationUnit": "Weeks"}', sshPublicKey: [JSON.stringify(key), 'not json'],
    };
    expect(toHostJson(entry, BASE)).toEqual({
      dn: web1, cn: 'web1', owners: [], memberOfs: [`cn=AllHosts,ou=groups,${BASE}`], principal: ['www'], duration: 12, durationUnit: 'Weeks', sshPublicCerts: [key], hasCredential: false,
    });
  });

  it('builds the entry with the default validity when none is given', () => {
    const input = HostCreateSchema.parse({ cn: 'db1', description: null });
    expect(buildHostEntry(input, [])).toEqual({
      objectClass: ['top', 'device', 'ldapPublicKey', 'extensibleObject'], cn: 'db1', info: JSON.stringify({ duration: 1, durationUnit: 'Days' }),
    });
    const full = HostCreateSchema.parse({ cn: 'db1', description: 'd', owners: [alice], principal: ['a', 'a'], duration: '7', durationUnit: 'Hours' });
    expect(buildHostEntry(full, [alice])).toMatchObject({ description: 'd', owner: [alice], pseudonym: ['a'], info: JSON.stringify({ duration: 7, durationUnit: 'Hours' }) });
  });

  it('builds replacements only for the single-valued fields sent, keeping unknown info keys', () => {
    expect(buildHostChanges(HostUpdateSchema.parse({}), undefined)).toEqual([]);
    // Owners and principals are lists: changed value by value (updateHost), never replaced.
    const changes = buildHostChanges(HostUpdateSchema.parse({ description: null, owners: [], principal: [], duration: 3 }), '{"duration": "9", "durationUnit": "Weeks", "x": 1}');
    expect(changes.map(plain)).toEqual([
      { operation: 'replace', type: 'description', values: [] },
      { operation: 'replace', type: 'info', values: [JSON.stringify({ duration: 3, durationUnit: 'Weeks', x: 1 })] },
    ]);
  });

  it('refuses unknown fields and out-of-range durations', () => {
    expect(HostCreateSchema.safeParse({ cn: 'db1', memberOfs: [] }).success).toBe(false);
    expect(HostUpdateSchema.safeParse({ duration: '501' }).success).toBe(false);
  });
});

describe('names and DNs', () => {
  it('limits host names to what the directory can store', () => {
    const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(MAX_NAME_LENGTH - 192)}`;
    expect(longest).toHaveLength(MAX_NAME_LENGTH);
    expect(HOST_NAME.test(longest)).toBe(true);
    expect(HOST_NAME.test(`${longest}d`)).toBe(false);
    expect(HOST_NAME.test(`${'a'.repeat(64)}.org`)).toBe(false);
  });

  it('parses a user DN in any case to the lowercase login name', () => {
    expect(parseEntityDN(`CN=Alice,OU=People,${BASE.toUpperCase()}`, BASE)).toEqual({ kind: 'user', name: 'alice' });
    expect(parseEntityDN(`cn=Alice+uid=x,ou=people,${BASE}`, BASE)).toBeUndefined();
  });
});
