// The two certificate authorities' private keys at run time, read once per cold start and kept for
// the life of the instance. Where they come from is a stage setting (CA_KEY_SOURCE):
// - `file` (local and test stages): the paths in CA_USER_KEY / CA_HOST_KEY, files that `npm start`
//   and the test harness make (scripts/ca.ts), in the openssh-key-v1 format ssh-keygen writes;
// - `ssm` (deployed): CA_USER_KEY / CA_HOST_KEY name SSM Parameter Store SecureString parameters,
//   fetched as the other secrets are (lib/secrets.ts: @middy/ssm, prefetched at cold start, read
//   again after SECRETS_CACHE_SECONDS).
// The environment holds where a key is, never the key. Keys live in KeyObjects (lib/sshca.ts),
// which print no key material; a CA that cannot be read fails only the requests that use it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { secretsCacheSeconds } from './config.js';
import { ssmParameters, type SsmOptions } from './secrets.js';
import { readCaPrivateKey, type CaKey } from './sshca.js';

export type CaKind = 'user' | 'host';

export interface CaSettings {
  source: 'file' | 'ssm';
  /** A file path (source file) or an SSM parameter name (source ssm), per CA. */
  locations: Partial<Record<CaKind, string>>;
  /** How long a key read from SSM is used before it is read again (SECRETS_CACHE_SECONDS). */
  cacheSeconds?: number;
}

/** CA_KEY_SOURCE's values; unset means file. */
const isCaKeySource = (value: string): value is CaSettings['source'] => value === 'file' || value === 'ssm';

/** The CA settings of an environment; without CA_KEY_SOURCE, file. Empty locations are unset. */
export const caSettings = (env: NodeJS.ProcessEnv = process.env): CaSettings => {
  const cacheSeconds = secretsCacheSeconds(env.SECRETS_CACHE_SECONDS);
  if ('problems' in cacheSeconds) throw new Error('SECRETS_CACHE_SECONDS: must be a positive whole number of seconds');
  const source = env.CA_KEY_SOURCE ?? 'file';
  if (!isCaKeySource(source)) throw new Error('CA_KEY_SOURCE: must be file or ssm');
  const location = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());
  const user = location(env.CA_USER_KEY);
  const host = location(env.CA_HOST_KEY);
  return {
    source,
    locations: { ...(user === undefined ? {} : { user }), ...(host === undefined ? {} : { host }) },
    cacheSeconds: cacheSeconds.value,
  };
};

/** The CAs a route was given; `get` throws (a 500 for the client, logged) when one could not be read. */
export interface CertificateAuthorities {
  get(kind: CaKind): CaKey;
}

export class CaUnavailableError extends Error {
  override name = 'CaUnavailableError';
}

const ENV_NAMES: Record<CaKind, string> = { user: 'CA_USER_KEY', host: 'CA_HOST_KEY' };

/** A CA read, or the reason it could not be: kept apart so a route that does not sign still works. */
type Loaded = CaKey | CaUnavailableError;

const unavailable = (kind: CaKind, error: unknown): CaUnavailableError =>
  new CaUnavailableError(`the ${kind} CA key cannot be read: ${error instanceof Error ? error.message : String(error)}`);

const authorities = (loaded: Partial<Record<CaKind, Loaded>>): CertificateAuthorities => ({
  get(kind) {
    const ca = loaded[kind];
    if (ca === undefined) throw new CaUnavailableError(`this route has no ${kind} CA`);
    if (ca instanceof CaUnavailableError) throw ca;
    return ca;
  },
});

/** The context field the middleware fills; lib/handler.ts hands it to the route's work. */
export interface CaContext {
  cas?: CertificateAuthorities;
}

export type CaMiddleware = middy.MiddlewareObj<unknown, unknown, Error, Context & CaContext> & {
  /** The CAs it gives (the function's IAM role may read their keys alone). */
  readonly kinds?: readonly CaKind[];
};

// ---- source file: read once per process, again only after a failure ----

const fileKeys = new Map<string, Promise<CaKey>>();

const readKeyFile = (file: string): Promise<CaKey> => {
  const absolute = path.resolve(file);
  let pending = fileKeys.get(absolute);
  if (pending === undefined) {
    pending = readFile(absolute, 'utf8').then(readCaPrivateKey);
    // A missing file (npm start not run yet) is read again next time, not remembered as missing.
    pending.catch(() => fileKeys.delete(absolute));
    fileKeys.set(absolute, pending);
  }
  return pending;
};

const fileMiddleware = (kinds: readonly CaKind[], settings: CaSettings): CaMiddleware => ({
  before: async (request) => {
    const entries = await Promise.all(
      kinds.map(async (kind): Promise<[CaKind, Loaded]> => {
        const file = settings.locations[kind];
        if (file === undefined) return [kind, unavailable(kind, new Error(`${ENV_NAMES[kind]} is not set`))];
        return readKeyFile(file).then(
          (ca): [CaKind, Loaded] => [kind, ca],
          (error: unknown): [CaKind, Loaded] => [kind, unavailable(kind, error)],
        );
      }),
    );
    request.context.cas = authorities(Object.fromEntries(entries));
  },
});

// ---- source ssm: lib/secrets.ts's @middy/ssm plumbing, loaded (with the SDK) only here ----

const DEFAULT_CACHE_SECONDS = 300;

/** Parsed keys by parameter value: the value changes only on rotation, parse it once. */
const parsedParameters = new Map<string, Map<string, CaKey>>();

const parseParameter = (name: string, value: unknown): CaKey => {
  if (typeof value !== 'string') throw new Error(`SSM parameter ${name} is not a string`);
  let byValue = parsedParameters.get(name);
  if (byValue === undefined) {
    byValue = new Map();
    parsedParameters.set(name, byValue);
  }
  let ca = byValue.get(value);
  if (ca === undefined) {
    ca = readCaPrivateKey(value);
    byValue.clear();
    byValue.set(value, ca);
  }
  return ca;
};

const ssmMiddleware = (kinds: readonly CaKind[], settings: CaSettings, options: SsmOptions): CaMiddleware => {
  const names: Partial<Record<CaKind, string>> = Object.fromEntries(
    kinds.flatMap((kind) => (settings.locations[kind] === undefined ? [] : [[kind, settings.locations[kind]]])),
  );
  const fetch = Object.keys(names).length === 0 ? undefined : ssmParameters(names as Record<CaKind, string>, settings.cacheSeconds ?? DEFAULT_CACHE_SECONDS, options);
  return {
    before: async (request) => {
      const loaded: Partial<Record<CaKind, Loaded>> = {};
      const fetched = fetch === undefined ? {} : await fetch(request as never);
      for (const kind of kinds) {
        const name = names[kind];
        const value = (fetched as Partial<Record<CaKind, unknown>>)[kind];
        if (name === undefined) loaded[kind] = unavailable(kind, new Error(`${ENV_NAMES[kind]} is not set`));
        else if (value instanceof Error) loaded[kind] = unavailable(kind, value);
        else {
          try {
            loaded[kind] = parseParameter(name, value);
          } catch (error) {
            loaded[kind] = unavailable(kind, error);
          }
        }
      }
      request.context.cas = authorities(loaded);
    },
  };
};

export type { SsmOptions };

/**
 * The middleware that gives a route the CAs it signs or publishes with (`context.cas`), from the
 * stage's source. Reads happen at cold start and are cached; a failed read is retried next time.
 */
export const caKeys = (kinds: readonly CaKind[], settings: CaSettings = caSettings(), options: SsmOptions = {}): CaMiddleware => ({
  ...(settings.source === 'ssm' ? ssmMiddleware(kinds, settings, options) : fileMiddleware(kinds, settings)),
  kinds,
});
