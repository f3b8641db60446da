// Configuration parsing: defaults, and failures that name the variable; where the secrets come from
// (the environment on the local stage, SSM parameters elsewhere).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, LOCAL_STAGES, parseConfig, useSecretValue } from '../../lib/config.js';
import LocalStageGuard, { LOCAL_STAGES as GUARDED_STAGES } from '../../local/stage-guard.mjs';

const valid = {
  LDAP_URL: 'ldap://127.0.0.1:3389',
  LDAP_BASE_DN: 'dc=keyper,dc=example,dc=org',
  LDAP_BIND_DN: 'cn=Manager,dc=keyper,dc=example,dc=org',
  LDAP_BIND_PASSWORD: 'secret',
  JWT_SECRET: 'a-local-secret-of-at-least-32-bytes',
};

const deployed = {
  ...valid,
  STAGE: 'prod',
  LDAP_BIND_PASSWORD: undefined,
  JWT_SECRET: undefined,
  LDAP_BIND_PASSWORD_PARAMETER: '/keyper/prod/ldap-bind-password',
  JWT_SECRET_PARAMETER: '/keyper/prod/jwt-secret',
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
    expect(config.tokens.secret).toEqual(new TextEncoder().encode(valid.JWT_SECRET));
    expect(config.secrets.cacheSeconds).toBe(300);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['LDAP_URL', { LDAP_URL: undefined }],
    ['LDAP_URL', { LDAP_URL: 'http://example.org' }],
    ['LDAP_BASE_DN', { LDAP_BASE_DN: 'not a dn' }],
    ['LDAP_BIND_PASSWORD', { LDAP_BIND_PASSWORD: '' }],
    ['SECRETS_CACHE_SECONDS', { SECRETS_CACHE_SECONDS: '0' }],
    ['LDAP_TIMEOUT_MS', { LDAP_TIMEOUT_MS: 'soon' }],
    ['LDAP_CONNECT_TIMEOUT_MS', { LDAP_CONNECT_TIMEOUT_MS: '-1' }],
    ['LDAP_UNDO_RESERVE_MS', { LDAP_UNDO_RESERVE_MS: '0' }],
  ])('names %s when it is missing or malformed', (name, override) => {
    expect(() => parseConfig({ ...valid, ...override })).toThrow(new RegExp(name));
  });

  /** The message of the error parseConfig throws. */
  const failure = (override: Record<string, string | undefined>): string => {
    try {
      parseConfig({ ...valid, ...override });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    throw new Error(`accepted ${JSON.stringify(override)}`);
  };

  it.each([
    [{ LDAP_URL: undefined }, 'LDAP_URL: Invalid input: expected string, received undefined'],
    [{ LDAP_BASE_DN: undefined }, 'LDAP_BASE_DN: Invalid input: expected string, received undefined'],
    [{ LDAP_BIND_DN: undefined }, 'LDAP_BIND_DN: Invalid input: expected string, received undefined'],
    [{ LDAP_URL: '' }, 'LDAP_URL: must be ldap:// or ldaps://host:port URLs, comma-separated'],
    [{ LDAP_URL: 'http://example.org' }, 'LDAP_URL: must be ldap:// or ldaps://host:port URLs, comma-separated'],
    [{ LDAP_BASE_DN: 'not a dn' }, 'LDAP_BASE_DN: must be a DN such as dc=example,dc=org'],
    [{ LDAP_BIND_DN: 'ab' }, 'LDAP_BIND_DN: must be the service account DN'],
    [{ STAGE: '' }, 'STAGE: Too small: expected string to have >=1 characters'],
    [{ LDAP_TIMEOUT_MS: 'soon' }, 'LDAP_TIMEOUT_MS: Invalid input: expected number, received NaN'],
    [{ LDAP_TIMEOUT_MS: 'Infinity' }, 'LDAP_TIMEOUT_MS: Invalid input: expected number, received Infinity'],
    [{ LDAP_TIMEOUT_MS: '-1e400' }, 'LDAP_TIMEOUT_MS: Invalid input: expected number, received -Infinity'],
    [{ LDAP_TIMEOUT_MS: '1.5' }, 'LDAP_TIMEOUT_MS: Invalid input: expected int, received number'],
    [{ LDAP_TIMEOUT_MS: '-1.5' }, 'LDAP_TIMEOUT_MS: Invalid input: expected int, received number'],
    [{ LDAP_TIMEOUT_MS: '' }, 'LDAP_TIMEOUT_MS: Too small: expected number to be >0'],
    [{ LDAP_TIMEOUT_MS: '0' }, 'LDAP_TIMEOUT_MS: Too small: expected number to be >0'],
    [{ LDAP_TIMEOUT_MS: '-0' }, 'LDAP_TIMEOUT_MS: Too small: expected number to be >0'],
    [{ LDAP_TIMEOUT_MS: '-1' }, 'LDAP_TIMEOUT_MS: Too small: expected number to be >0'],
    [{ LDAP_TIMEOUT_MS: '9007199254740993' }, 'LDAP_TIMEOUT_MS: Too big: expected int to be <=9007199254740991'],
    [{ LDAP_TIMEOUT_MS: '-9007199254740993' }, 'LDAP_TIMEOUT_MS: Too small: expected int to be >=-9007199254740991; LDAP_TIMEOUT_MS: Too small: expected number to be >0'],
    [{ LDAP_STARTTLS: 'yes' }, 'LDAP_STARTTLS: Invalid option: expected one of "true"|"false"|""'],
    [{ LDAP_TLS_INSECURE: 'TRUE' }, 'LDAP_TLS_INSECURE: Invalid option: expected one of "true"|"false"|""'],
    [
      { STAGE: '', LDAP_URL: undefined, LDAP_STARTTLS: 'on', LDAP_BASE_DN: 'x', LDAP_UNDO_RESERVE_MS: '0', SECRETS_CACHE_SECONDS: 'soon', LOCKOUT_DURATION_SECONDS: '2.5' },
      'STAGE: Too small: expected string to have >=1 characters; LDAP_URL: Invalid input: expected string, received undefined; LDAP_STARTTLS: Invalid option: expected one of "true"|"false"|""; LDAP_BASE_DN: must be a DN such as dc=example,dc=org; LDAP_UNDO_RESERVE_MS: Too small: expected number to be >0; SECRETS_CACHE_SECONDS: Invalid input: expected number, received NaN; LOCKOUT_DURATION_SECONDS: Invalid input: expected int, received number',
    ],
  ])('refuses %j in these words, every problem in the order of the variables', (override, message) => {
    expect(failure(override)).toBe(`Invalid configuration: ${message}`);
  });

  it('takes whole numbers as JavaScript reads them, and flags as true, false or empty', () => {
    const numbers = { LDAP_CONNECT_TIMEOUT_MS: ' 12 ', LDAP_TIMEOUT_MS: '1e3', LDAP_UNDO_RESERVE_MS: '0x10', SECRETS_CACHE_SECONDS: '0b11', ACCESS_TOKEN_TTL_SECONDS: '9007199254740991' };
    const config = parseConfig({ ...valid, ...numbers, REFRESH_TOKEN_TTL_SECONDS: '60', LOCKOUT_DURATION_SECONDS: '1.0', LDAP_STARTTLS: '', LDAP_TLS_INSECURE: 'false' });
    expect([config.ldap.connectTimeoutMs, config.ldap.timeoutMs, config.ldap.undoReserveMs, config.secrets.cacheSeconds]).toEqual([12, 1000, 16, 3]);
    expect([config.tokens.accessTtlSeconds, config.tokens.refreshTtlSeconds, config.lockoutSeconds]).toEqual([9007199254740991, 60, 1]);
    expect([config.ldap.startTls, config.ldap.tlsInsecure]).toEqual([false, false]);
    expect(parseConfig({ ...valid, STAGE: 'test', LDAP_STARTTLS: 'true', LDAP_TLS_INSECURE: 'true' }).ldap).toMatchObject({ startTls: true, tlsInsecure: true });
  });

  it('makes up no JWT secret on the local stage: each function would have its own and refuse the others\' tokens', () => {
    for (const stage of ['local', 'test']) {
      expect(() => parseConfig({ ...valid, STAGE: stage, JWT_SECRET: undefined })).toThrow(ConfigError);
      expect(() => parseConfig({ ...valid, STAGE: stage, JWT_SECRET: '' })).toThrow(/JWT_SECRET: required on the local stage.*npm start/);
    }
    expect(() => parseConfig({ ...valid, JWT_SECRET: 'short' })).toThrow(/JWT_SECRET: must be at least 32 bytes/);
    expect(() => parseConfig({ ...valid, JWT_SECRET: 'short' })).not.toThrow(/short/);
  });

  it('reads the secrets from SSM parameters outside the local stage, never from the environment', () => {
    const config = parseConfig(deployed);
    expect(config.secrets).toEqual({
      LDAP_BIND_PASSWORD: { parameter: '/keyper/prod/ldap-bind-password' },
      JWT_SECRET: { parameter: '/keyper/prod/jwt-secret' },
      cacheSeconds: 300,
    });
    // Not read yet (lib/secrets.ts reads them before a route's work): no value to give.
    expect(() => config.ldap.bindPassword).toThrow(/LDAP_BIND_PASSWORD: SSM parameter \/keyper\/prod\/ldap-bind-password has not been read/);
    useSecretValue('/keyper/prod/ldap-bind-password', 'from-ssm');
    expect(config.ldap.bindPassword).toBe('from-ssm');
    useSecretValue('/keyper/prod/ldap-bind-password', 'rotated');
    expect(config.ldap.bindPassword).toBe('rotated');

    expect(() => parseConfig({ ...deployed, JWT_SECRET_PARAMETER: undefined })).toThrow(/JWT_SECRET_PARAMETER: required outside the local stage/);
    expect(() => parseConfig({ ...deployed, LDAP_BIND_PASSWORD_PARAMETER: '' })).toThrow(/LDAP_BIND_PASSWORD_PARAMETER: required/);
    // A value in the environment is refused, with or without the parameter.
    expect(() => parseConfig({ ...deployed, JWT_SECRET_PARAMETER: undefined, JWT_SECRET: 'x'.repeat(32) })).toThrow(/JWT_SECRET_PARAMETER: required/);
    expect(() => parseConfig({ ...deployed, JWT_SECRET: 'x'.repeat(32) })).toThrow(/not both/);
    expect(() => parseConfig({ ...deployed, JWT_SECRET_PARAMETER: 'keyper/prod/jwt-secret' })).toThrow(/JWT_SECRET_PARAMETER: must be an SSM parameter name/);
    expect(parseConfig({ ...deployed, SECRETS_CACHE_SECONDS: '60' }).secrets.cacheSeconds).toBe(60);
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
      const ldap = parseConfig({ ...valid, LDAP_URL: ' ldaps://a.example.org:636 ,ldaps://b.example.org,ldaps://a.example.org:636' }).ldap;
      expect(ldap.urls).toEqual(['ldaps://a.example.org:636', 'ldaps://b.example.org']);
      expect(Object.isFrozen(ldap.urls)).toBe(true);
      expect(parseConfig({ ...valid, LDAP_URL: 'ldap://a.example.org,ldap://b.example.org', LDAP_STARTTLS: 'true' }).ldap.urls).toEqual(['ldap://a.example.org', 'ldap://b.example.org']);
    });

    it.each([
      ['ldaps://a.example.org:636,ldap://b.example.org:389', {}],
      ['ldap://a.example.org,ldaps://b.example.org', {}],
      ['ldap://a.example.org,ldaps://b.example.org', { LDAP_STARTTLS: 'true' }],
    ])('refuses %s on every stage: failing over to the ldap:// server would send the passwords in clear', (url, settings) => {
      for (const env of [valid, deployed]) {
        expect(() => parseConfig({ ...env, ...settings, LDAP_URL: url })).toThrow(/LDAP_URL: .*ldaps:\/\/ and ldap:\/\//);
      }
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
      ['LDAP_STARTTLS', { LDAP_URL: 'ldaps://a.example.org,ldaps://b.example.org', LDAP_STARTTLS: 'true' }],
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
      const overTls = { ...deployed, LDAP_URL: 'ldaps://a.example.org' };
      expect(parseConfig(overTls).ldap.tlsInsecure).toBe(false);
      expect(() => parseConfig({ ...overTls, LDAP_TLS_INSECURE: 'true' })).toThrow(/LDAP_TLS_INSECURE: refused outside the local stage/);
    });

    it('refuses LDAP_TLS_INSECURE where the secrets come from SSM (a deployed function), whatever the stage is called', () => {
      for (const stage of LOCAL_STAGES) {
        expect(() => parseConfig({ ...deployed, STAGE: stage, LDAP_URL: 'ldaps://a.example.org', LDAP_TLS_INSECURE: 'true' })).toThrow(/LDAP_TLS_INSECURE/);
      }
    });
  });

  describe('the stages that are local', () => {
    it('are the ones local/stage-guard.mjs keeps from `serverless package` and `deploy`', () => {
      expect([...LOCAL_STAGES].sort()).toEqual([...GUARDED_STAGES].sort());
    });

    it.each(['local', 'offline', 'test'])('%s: packaging and deploying it are refused', (stage) => {
      const guard = (command: string) => {
        const serverless = {
          getProvider: () => ({ getStage: () => stage }),
          processedInput: { commands: [command] },
          service: { provider: {} },
          classes: { Error },
        };
        return () => new LocalStageGuard(serverless).hooks.initialize();
      };
      expect(guard('package')).toThrow(`The "${stage}" stage is for \`npm start\` and the tests`);
      expect(guard('deploy')).toThrow(`The "${stage}" stage is for \`npm start\` and the tests`);
    });
  });
});
