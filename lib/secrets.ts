// Secrets at run time: the LDAP bind password and the JWT secret here, the CAs' private keys in
// lib/cakeys.ts, all through the one @middy/ssm plumbing below. Deployed, the environment names SSM
// Parameter Store SecureString parameters (LDAP_BIND_PASSWORD_PARAMETER, JWT_SECRET_PARAMETER);
// @middy/ssm fetches them decrypted, starting at cold start, and keeps them SECRETS_CACHE_SECONDS
// before fetching again (a rotated secret is in use within that time); a failed fetch is retried
// on the next request. On the local stage the values are in the environment (npm start, tests) and
// nothing here runs. The AWS SDK is the Lambda runtime's (external to the bundle), loaded only here.
import type middy from '@middy/core';
import { getInternal } from '@middy/util';
import { checkSecret, config, useSecretValue, type SecretName } from './config.js';

export interface SsmOptions {
  /** The SSM client class (tests pass a fake; deployed, the SDK's SSMClient). */
  AwsClient?: unknown;
}

/** What a fetch gave for each key: the parameter's value, or the Error that kept it. */
export type Fetched<K extends string> = Record<K, unknown>;

const reason = (error: unknown): Error => {
  // getInternal wraps the fetch's own errors ("Failed to resolve internal values"): keep the first.
  const inner = (error as { cause?: { data?: unknown[] } } | undefined)?.cause?.data?.[0];
  const chosen = inner ?? error;
  return chosen instanceof Error ? chosen : new Error(String(chosen));
};

/**
 * Reads the SSM parameters `names` (key → parameter name) for a request with @middy/ssm: created
 * at module load (the cold start), so the fetch starts before the first request.
 */
export const ssmParameters = <K extends string>(names: Record<K, string>, cacheSeconds: number, options: SsmOptions = {}) => {
  const keys = Object.keys(names) as K[];
  const inner = import('@middy/ssm').then(({ default: ssm }) =>
    ssm({
      fetchData: names,
      // One cache per set of parameters: two routes in one process must not read each other's.
      cacheKey: `keyper:${Object.entries(names).join(';')}`,
      cacheExpiry: cacheSeconds * 1000,
      ...(options.AwsClient === undefined ? {} : { AwsClient: options.AwsClient as never }),
    }),
  );
  // Unhandled until the first request awaits it; a failed import then fails that request.
  inner.catch(() => undefined);
  return async (request: middy.Request): Promise<Fetched<K>> => {
    const fetched = {} as Fetched<K>;
    try {
      await (await inner).before?.(request as never);
    } catch (error) {
      for (const key of keys) fetched[key] = reason(error);
      return fetched;
    }
    for (const key of keys) {
      try {
        fetched[key] = ((await getInternal([key], request as never)) as Record<string, unknown>)[key];
      } catch (error) {
        fetched[key] = reason(error);
      }
    }
    return fetched;
  };
};

export class SecretUnavailableError extends Error {
  override name = 'SecretUnavailableError';
  /** A passing failure of a service this one depends on: 503, as for the directory (lib/errors.ts). */
  readonly code = 'ESECRETUNAVAILABLE';
}

/**
 * The middleware that reads the secrets `names` before a route's work (the others stay unread: the
 * function may not read them); undefined where none comes from SSM (the local stage).
 */
export const readSecrets = (names: readonly SecretName[], options: SsmOptions = {}): middy.MiddlewareObj | undefined => {
  const { secrets } = config();
  const parameters = Object.fromEntries(
    names.flatMap((name) => {
      const source = secrets[name];
      return 'parameter' in source ? [[name, source.parameter]] : [];
    }),
  ) as Record<SecretName, string>;
  if (Object.keys(parameters).length === 0) return undefined;
  const fetch = ssmParameters(parameters, secrets.cacheSeconds, options);
  return {
    before: async (request) => {
      const fetched = await fetch(request);
      for (const name of Object.keys(parameters) as SecretName[]) {
        const parameter = parameters[name];
        const value = fetched[name];
        // Messages name the parameter, never a value.
        if (value instanceof Error) throw new SecretUnavailableError(`${name}: SSM parameter ${parameter} cannot be read: ${value.message}`);
        if (typeof value !== 'string') throw new SecretUnavailableError(`${name}: SSM parameter ${parameter} is not a string`);
        useSecretValue(parameter, checkSecret(name, value));
      }
    },
  };
};
