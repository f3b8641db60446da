// The bind password and the JWT secret at run time (lib/secrets.ts), with a fake SSM client in
// place of the SDK's: a deployed function reads the parameters it needs, and only those, once per
// SECRETS_CACHE_SECONDS (a rotated secret is used from then on); a failed read fails the request,
// naming the parameter and never a value, and is tried again on the next. The local stage reads
// nothing from SSM.
import middy from '@middy/core';
import { clearCache } from '@middy/util';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { config, reloadConfig } from '../../lib/config.js';
import { toApiError } from '../../lib/errors.js';
import { readSecrets } from '../../lib/secrets.js';
import { fakeSsm } from '../fake-ssm.js';

const BIND = '/keyper/unit/ldap-bind-password';
const JWT = '/keyper/unit/jwt-secret';

const settings = {
  LDAP_URL: 'ldap://127.0.0.1:3389',
  LDAP_BASE_DN: 'dc=keyper,dc=example,dc=org',
  LDAP_BIND_DN: 'cn=Manager,dc=keyper,dc=example,dc=org',
};

const saved = { ...process.env };
const useEnv = (env: Record<string, string>): void => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved, settings, env);
  reloadConfig();
};

// @middy/ssm keeps values per process by parameter set: each test starts without any.
beforeEach(() => clearCache());
beforeEach(() => useEnv({ STAGE: 'prod', LDAP_BIND_PASSWORD_PARAMETER: BIND, JWT_SECRET_PARAMETER: JWT, SECRETS_CACHE_SECONDS: '60' }));
afterEach(() => {
  vi.useRealTimers();
  useEnv({});
});

const context = (): Context => ({ awsRequestId: 'test', getRemainingTimeInMillis: () => 10_000 }) as unknown as Context;

/** A handler that reports the secrets its work sees through config(), as lib/handler.ts's routes do. */
const handlerWith = (middleware: middy.MiddlewareObj | undefined, read: ('bind' | 'jwt')[]) =>
  middy()
    .use(middleware === undefined ? [] : [middleware])
    .handler(async () => ({
      bind: read.includes('bind') ? config().ldap.bindPassword : undefined,
      jwt: read.includes('jwt') ? new TextDecoder().decode(config().tokens.secret) : undefined,
    }));

describe('readSecrets', () => {
  it('reads the parameters a function uses, decrypted, once for many requests', async () => {
    const ssm = fakeSsm({ [BIND]: 'bind-from-ssm', [JWT]: 'j'.repeat(40) });
    const handler = handlerWith(readSecrets(['LDAP_BIND_PASSWORD', 'JWT_SECRET'], { AwsClient: ssm.AwsClient }), ['bind', 'jwt']);
    for (let i = 0; i < 3; i += 1) expect(await handler({}, context())).toEqual({ bind: 'bind-from-ssm', jwt: 'j'.repeat(40) });
    expect(ssm.sent).toEqual([{ Names: [BIND, JWT], WithDecryption: true }]);
    // Nothing of them reaches the environment.
    expect(JSON.stringify(process.env)).not.toContain('bind-from-ssm');
  });

  it('asks for no parameter the function does not use (its role may not read it)', async () => {
    const ssm = fakeSsm({ [BIND]: 'bind-only' });
    const handler = handlerWith(readSecrets(['LDAP_BIND_PASSWORD'], { AwsClient: ssm.AwsClient }), ['bind']);
    expect(await handler({}, context())).toEqual({ bind: 'bind-only' });
    expect(ssm.sent.flatMap((sent) => sent.Names)).toEqual([BIND]);
  });

  it('uses a rotated secret once the cache time is over', async () => {
    vi.useFakeTimers();
    const ssm = fakeSsm({ [BIND]: 'before', [JWT]: 'b'.repeat(32) });
    const handler = handlerWith(readSecrets(['LDAP_BIND_PASSWORD', 'JWT_SECRET'], { AwsClient: ssm.AwsClient }), ['bind', 'jwt']);
    expect(await handler({}, context())).toEqual({ bind: 'before', jwt: 'b'.repeat(32) });
    ssm.parameters[BIND] = 'after';
    ssm.parameters[JWT] = 'a'.repeat(32);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(await handler({}, context())).toEqual({ bind: 'before', jwt: 'b'.repeat(32) });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await handler({}, context())).toEqual({ bind: 'after', jwt: 'a'.repeat(32) });
  });

  it('fails the request while a parameter cannot be read, naming it, and reads it again on the next', async () => {
    const ssm = fakeSsm({ [BIND]: 'present' });
    const handler = handlerWith(readSecrets(['LDAP_BIND_PASSWORD', 'JWT_SECRET'], { AwsClient: ssm.AwsClient }), ['bind', 'jwt']);
    await expect(handler({}, context())).rejects.toThrow(`JWT_SECRET: SSM parameter ${JWT} cannot be read`);
    // A passing failure of SSM, like one of the directory: 503, not 500.
    const failed = await handler({}, context()).then(() => undefined, (reason: unknown) => reason);
    expect(toApiError(failed)).toMatchObject({ statusCode: 503, body: { msg: 'Service unavailable' } });
    ssm.parameters[JWT] = 'x'.repeat(32);
    expect(await handler({}, context())).toEqual({ bind: 'present', jwt: 'x'.repeat(32) });
  });

  it('refuses a JWT secret under 32 bytes without saying it', async () => {
    const ssm = fakeSsm({ [BIND]: 'present', [JWT]: 'too-short-secret' });
    const handler = handlerWith(readSecrets(['LDAP_BIND_PASSWORD', 'JWT_SECRET'], { AwsClient: ssm.AwsClient }), ['jwt']);
    const error = await handler({}, context()).then(() => undefined, (reason: unknown) => reason as Error);
    expect(error?.message).toMatch(/JWT_SECRET: must be at least 32 bytes/);
    expect(error?.message).not.toContain('too-short-secret');
  });

  it('reads nothing from SSM on the local stage: the values are in the environment', async () => {
    useEnv({ STAGE: 'local', LDAP_BIND_PASSWORD: 'local-bind', JWT_SECRET: 'l'.repeat(32) });
    expect(readSecrets(['LDAP_BIND_PASSWORD', 'JWT_SECRET'])).toBeUndefined();
    expect(await handlerWith(undefined, ['bind', 'jwt'])({}, context())).toEqual({ bind: 'local-bind', jwt: 'l'.repeat(32) });
  });
});
