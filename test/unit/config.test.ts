// Configuration parsing: defaults, and failures that name the variable.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config.js';

const valid = {
  LDAP_URL: 'ldap://127.0.0.1:3389',
  LDAP_BASE_DN: 'dc=keyper,dc=example,dc=org',
  LDAP_BIND_DN: 'cn=Manager,dc=keyper,dc=example,dc=org',
  LDAP_BIND_PASSWORD: 'secret',
};

describe('parseConfig', () => {
  it('applies defaults for timeouts, token lifetimes and the stage', () => {
    const config = parseConfig(valid);
    expect(config.stage).toBe('local');
    expect(config.ldap).toEqual({
      url: valid.LDAP_URL, baseDN: valid.LDAP_BASE_DN, bindDN: valid.LDAP_BIND_DN, bindPassword: 'secret', connectTimeoutMs: 3000, timeoutMs: 5000,
      undoReserveMs: 2000,
    });
    expect(config.tokens.accessTtlSeconds).toBe(900);
    expect(config.tokens.refreshTtlSeconds).toBe(604800);
    expect(config.tokens.secret).toHaveLength(32);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['LDAP_URL', { LDAP_URL: undefined }],
    ['LDAP_URL', { LDAP_URL: 'http://example.org' }],
    ['LDAP_BASE_DN', { LDAP_BASE_DN: 'not a dn' }],
    ['LDAP_BIND_PASSWORD', { LDAP_BIND_PASSWORD: '' }],
    ['LDAP_TIMEOUT_MS', { LDAP_TIMEOUT_MS: 'soon' }],
    ['LDAP_CONNECT_TIMEOUT_MS', { LDAP_CONNECT_TIMEOUT_MS: '-1' }],
    ['LDAP_UNDO_RESERVE_MS', { LDAP_UNDO_RESERVE_MS: '0' }],
  ])('names %s when it is missing or malformed', (name, override) => {
    expect(() => parseConfig({ ...valid, ...override })).toThrow(new RegExp(name));
  });

  it('refuses to run outside the local stage without a JWT secret, or with a short one', () => {
    expect(() => parseConfig({ ...valid, STAGE: 'prod' })).toThrow(ConfigError);
    expect(() => parseConfig({ ...valid, STAGE: 'prod' })).toThrow(/JWT_SECRET/);
    expect(() => parseConfig({ ...valid, STAGE: 'prod', JWT_SECRET: 'short' })).toThrow(/at least 32 bytes/);
    expect(parseConfig({ ...valid, STAGE: 'prod', JWT_SECRET: 'x'.repeat(32) }).tokens.secret).toHaveLength(32);
  });

  it('allows no browser origin by default, and takes a comma-separated list of exact origins', () => {
    expect(parseConfig(valid).corsOrigins).toEqual([]);
    expect(parseConfig({ ...valid, CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
    const origins = parseConfig({ ...valid, CORS_ORIGINS: ' https://console.example.org, http://localhost:5173,https://console.example.org' }).corsOrigins;
    expect(origins).toEqual(['https://console.example.org', 'http://localhost:5173']);
    expect(Object.isFrozen(origins)).toBe(true);
  });

  it.each([
    '*',
    'null',
    'console.example.org',
    'https://console.example.org/',
    'https://console.example.org/app',
    'https://Console.example.org',
    'https://console.example.org:443',
    'https://*.example.org',
    'http://console.example.org',
    'ftp://console.example.org',
  ])('refuses %s in CORS_ORIGINS, naming the variable', (origin) => {
    expect(() => parseConfig({ ...valid, CORS_ORIGINS: `https://ok.example.org,${origin}` })).toThrow(/CORS_ORIGINS/);
  });
});
