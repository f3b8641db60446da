// Per-host credentials, the pure parts: a new credential is a 256-bit random token whose SHA-256
// alone is stored (a labeledURI value with our URN prefix), the check admits hosts without one
// and otherwise only the right token, and the update schema takes the credential actions alone.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { admitsHost, credentialValues, newHostCredential } from '../../lib/hostcredentials.js';
import { HostUpdateSchema, toHostJson } from '../../lib/hosts.js';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

describe('a new host credential', () => {
  it('is 256 random bits as base64url, stored only as its SHA-256', () => {
    const { token, stored } = newHostCredential();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(stored).toBe(`urn:keyper:host-credential:sha256:${sha256(token)}`);
    expect(stored).not.toContain(token);
    expect(newHostCredential().token).not.toBe(token);
  });
});

describe('which labeledURI values are credentials', () => {
  it('only those with the prefix; other URIs on the entry are not', () => {
    const { stored } = newHostCredential();
    expect(credentialValues(['https://wiki.example.org/web1 Runbook', stored, 'urn:keyper:revoked-session:x:1'])).toEqual([stored]);
    expect(credentialValues([])).toEqual([]);
  });
});

describe('a host in the API', () => {
  it('says whether it has a credential, never what it is', () => {
    const { stored } = newHostCredential();
    const BASE = 'dc=keyper,dc=example,dc=org';
    const entry = { dn: `cn=web1,ou=Hosts,${BASE}`, cn: 'web1', labeledURI: ['https://wiki.example.org/web1', stored] };
    const json = toHostJson(entry, BASE);
    expect(json.hasCredential).toBe(true);
    expect(JSON.stringify(json)).not.toContain(stored.split(':').at(-1));
    expect(JSON.stringify(json)).not.toContain('wiki');
    expect(toHostJson({ ...entry, labeledURI: 'https://wiki.example.org/web1' }, BASE).hasCredential).toBe(false);
  });
});

describe('the check', () => {
  const { token, stored } = newHostCredential();
  const other = newHostCredential();

  it.each<[string, string[], string | undefined, boolean]>([
    ['no credential on the host, none presented', [], undefined, true],
    ['no credential on the host, one presented anyway', [], token, true],
    ['no credential on the host, only other URIs', ['https://wiki.example.org/web1'], undefined, true],
    ['the right token', [stored], token, true],
    ['no token', [stored], undefined, false],
    ['an empty token', [stored], '', false],
    ['another host\'s token', [stored], other.token, false],
    ['the stored hash itself', [stored], stored, false],
    ['the hex digest itself', [stored], sha256(token), false],
    ['the token with a character changed', [stored], `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, false],
    ['a malformed stored value (short digest)', [`urn:keyper:host-credential:sha256:${sha256(token).slice(0, 62)}`], token, false],
    ['a malformed stored value (longer digest)', [`urn:keyper:host-credential:sha256:${sha256(token)}00`], token, false],
    ['a malformed stored value (upper-case hex is not what we write)', [`urn:keyper:host-credential:sha256:${sha256(token).toUpperCase()}`], token, false],
    ['a malformed stored value (empty)', ['urn:keyper:host-credential:sha256:'], '', false],
  ])('%s', (_, uris, presented, admitted) => {
    expect(admitsHost(uris, presented)).toBe(admitted);
  });
});

describe('the update schema', () => {
  it('takes rotateCredential or removeCredential alone', () => {
    expect(HostUpdateSchema.parse({ rotateCredential: true })).toEqual({ rotateCredential: true });
    expect(HostUpdateSchema.parse({ removeCredential: true })).toEqual({ removeCredential: true });
    expect(HostUpdateSchema.parse({ rotateCredential: false, description: 'd' })).toEqual({ rotateCredential: false, description: 'd' });
    expect(HostUpdateSchema.safeParse({ rotateCredential: true, removeCredential: true }).success).toBe(false);
    expect(HostUpdateSchema.safeParse({ rotateCredential: true, description: 'd' }).success).toBe(false);
    expect(HostUpdateSchema.safeParse({ removeCredential: true, principal: [] }).success).toBe(false);
    expect(HostUpdateSchema.safeParse({ rotateCredential: 'yes' }).success).toBe(false);
    expect(HostUpdateSchema.safeParse({ credential: 'x' }).success).toBe(false);
  });
});
