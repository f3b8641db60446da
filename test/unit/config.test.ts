// Configuration parsing: defaults, and failures that name the variable.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
      url: valid.LDAP_URL, urls: [valid.LDAP_URL], startTls: false, tlsInsecure: false, baseDN: valid.LDAP_BASE_DN, bindDN: valid.LDAP_BIND_DN, bindPassword: 'secret', connectTimeoutMs: 3000, timeoutMs: 5000,
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

  describe('LDAP_URL and TLS to the directory', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'keyper-config-'));
    const caFile = path.join(folder, 'ca.pem');
    const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(caFile, PEM);
    const notPem = path.join(folder, 'not.pem');
    writeFileSync(notPem, 'hello');

    it('takes a comma-separated list of servers, in order, without repeats', () => {
      const ldap = parseConfig({ ...valid, LDAP_URL: ' ldaps://a.example.org:636 ,ldap://b.example.org,ldaps://a.example.org:636' }).ldap;
      expect(ldap.urls).toEqual(['ldaps://a.example.org:636', 'ldap://b.example.org']);
      expect(Object.isFrozen(ldap.urls)).toBe(true);
    });

    it('reads LDAP_CA_FILE at start, and takes LDAP_STARTTLS', () => {
      const ldap = parseConfig({ ...valid, LDAP_STARTTLS: 'true', LDAP_CA_FILE: caFile }).ldap;
      expect(ldap).toMatchObject({ startTls: true, ca: PEM, tlsInsecure: false });
      expect(parseConfig({ ...valid, LDAP_URL: 'ldaps://a.example.org', LDAP_CA_FILE: caFile }).ldap.ca).toBe(PEM);
      expect(parseConfig({ ...valid, LDAP_STARTTLS: 'false', LDAP_CA_FILE: '' }).ldap).toMatchObject({ startTls: false, tlsInsecure: false });
    });

    it.each([
      ['LDAP_URL', { LDAP_URL: 'ldap://a.example.org,' }],
      ['LDAP_URL', { LDAP_URL: 'ldap://a.example.org,http://b.example.org' }],
      ['LDAP_URL', { LDAP_URL: 'ldap://a.example.org ldap://b.example.org' }],
      ['LDAP_URL', { LDAP_URL: 'ldap://a.example.org/dc=example' }],
      ['LDAP_STARTTLS', { LDAP_STARTTLS: 'yes' }],
      ['LDAP_STARTTLS', { LDAP_URL: 'ldap://a.example.org,ldaps://b.example.org', LDAP_STARTTLS: 'true' }],
      ['LDAP_CA_FILE', { LDAP_STARTTLS: 'true', LDAP_CA_FILE: path.join(folder, 'missing.pem') }],
      ['LDAP_CA_FILE', { LDAP_STARTTLS: 'true', LDAP_CA_FILE: notPem }],
      ['LDAP_CA_FILE', { LDAP_CA_FILE: caFile }],
      ['LDAP_TLS_INSECURE', { LDAP_TLS_INSECURE: 'true' }],
      ['LDAP_TLS_INSECURE', { LDAP_STARTTLS: 'true', LDAP_TLS_INSECURE: 'on' }],
    ])('names %s when it is malformed or contradicts the others', (name, override) => {
      expect(() => parseConfig({ ...valid, ...override })).toThrow(new RegExp(name));
    });

    it('turns certificate checking off on the local stage only', () => {
      for (const stage of ['local', 'test']) {
        expect(parseConfig({ ...valid, STAGE: stage, LDAP_STARTTLS: 'true', LDAP_TLS_INSECURE: 'true' }).ldap.tlsInsecure).toBe(true);
      }
      const deployed = { ...valid, STAGE: 'prod', JWT_SECRET: 'x'.repeat(32), LDAP_URL: 'ldaps://a.example.org' };
      expect(parseConfig(deployed).ldap.tlsInsecure).toBe(false);
      expect(() => parseConfig({ ...deployed, LDAP_TLS_INSECURE: 'true' })).toThrow(/LDAP_TLS_INSECURE: refused outside the local stage/);
    });
  });
});
