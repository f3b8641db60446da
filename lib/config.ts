// Configuration from the environment, validated once per cold start (first use) and frozen.
// A missing or malformed variable fails with a message that names it.
import { readFileSync } from 'node:fs';

// Plain functions rather than a zod schema: building one and parsing with it cost every cold start
// 1-4 ms of CPU (scripts/bundles.ts; 4 where the function has no other zod object). Each reads one
// variable's value, and the messages are the words zod gave, so the configuration fails as it did.

/** A variable's value as the configuration takes it, or what is wrong with it. */
export type Reading<T> = { readonly value: T } | { readonly problems: readonly string[] };

const take = <T>(value: T): Reading<T> => ({ value });
const refuse = (...problems: string[]): Reading<never> => ({ problems });

/** A variable that must be set and pass `valid`, or be refused with `message`. */
const required = (value: string | undefined, valid: (value: string) => boolean, message: string): Reading<string> => {
  if (value === undefined) return refuse('Invalid input: expected string, received undefined');
  return valid(value) ? take(value) : refuse(message);
};

/** A variable that, when set, is not empty; `fallback` when unset. */
const nonEmpty = (value: string | undefined, fallback: string): Reading<string> =>
  value === undefined ? take(fallback) : value === '' ? refuse('Too small: expected string to have >=1 characters') : take(value);

const FLAG_VALUES = ['true', 'false', ''];

/** `true` or `false`; empty or unset is false. */
const flag = (value: string | undefined): Reading<boolean> =>
  value === undefined || FLAG_VALUES.includes(value) ? take(value === 'true') : refuse('Invalid option: expected one of "true"|"false"|""');

/**
 * A whole number above zero, `fallback` when unset. Read as Number() reads it (`1e3`, ` 12 `,
 * `0x10`), a safe integer: the forms the schema took.
 */
const positiveInt = (value: string | undefined, fallback: number): Reading<number> => {
  if (value === undefined) return take(fallback);
  const number = Number(value);
  if (!Number.isFinite(number)) return refuse(`Invalid input: expected number, received ${number}`);
  if (!Number.isInteger(number)) return refuse('Invalid input: expected int, received number');
  const problems = [
    ...(number > Number.MAX_SAFE_INTEGER ? [`Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`] : []),
    ...(number < Number.MIN_SAFE_INTEGER ? [`Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`] : []),
    ...(number > 0 ? [] : ['Too small: expected number to be >0']),
  ];
  return problems.length === 0 ? take(number) : refuse(...problems);
};

/** SECRETS_CACHE_SECONDS, also read by lib/cakeys.ts. */
export const secretsCacheSeconds = (value: string | undefined): Reading<number> => positiveInt(value, 300);

type Values<F> = { readonly [K in keyof F]: F[K] extends Reading<infer T> ? T : never };

/** The values of the readings, or a ConfigError that names every variable refused, in order, with its problems. */
const settle = <F extends Record<string, Reading<unknown>>>(readings: F): Values<F> => {
  const problems = Object.entries(readings).flatMap(([name, reading]) => ('problems' in reading ? reading.problems.map((problem) => `${name}: ${problem}`) : []));
  if (problems.length > 0) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  return Object.fromEntries(Object.entries(readings).map(([name, reading]) => [name, 'value' in reading ? reading.value : undefined])) as Values<F>;
};

const LDAP_URLS = /^ *ldaps?:\/\/[^\s/,]+\/? *(, *ldaps?:\/\/[^\s/,]+\/? *)*$/;
const DN = /^[a-zA-Z]+=[^,]+(,[a-zA-Z]+=[^,]+)*$/;

/** Every variable of the configuration read from `env`, in the order its problems are told. */
const readEnvironment = (env: NodeJS.ProcessEnv) =>
  settle({
    STAGE: nonEmpty(env.STAGE, 'local'),
    LDAP_URL: required(env.LDAP_URL, (url) => LDAP_URLS.test(url), 'must be ldap:// or ldaps://host:port URLs, comma-separated'),
    LDAP_STARTTLS: flag(env.LDAP_STARTTLS),
    LDAP_CA_FILE: take(env.LDAP_CA_FILE ?? ''),
    LDAP_TLS_INSECURE: flag(env.LDAP_TLS_INSECURE),
    LDAP_BASE_DN: required(env.LDAP_BASE_DN, (dn) => DN.test(dn), 'must be a DN such as dc=example,dc=org'),
    LDAP_BIND_DN: required(env.LDAP_BIND_DN, (dn) => dn.length >= 3, 'must be the service account DN'),
    LDAP_BIND_PASSWORD: take(env.LDAP_BIND_PASSWORD),
    LDAP_BIND_PASSWORD_PARAMETER: take(env.LDAP_BIND_PASSWORD_PARAMETER),
    LDAP_CONNECT_TIMEOUT_MS: positiveInt(env.LDAP_CONNECT_TIMEOUT_MS, 3000),
    LDAP_TIMEOUT_MS: positiveInt(env.LDAP_TIMEOUT_MS, 5000),
    LDAP_UNDO_RESERVE_MS: positiveInt(env.LDAP_UNDO_RESERVE_MS, 2000),
    JWT_SECRET: take(env.JWT_SECRET),
    JWT_SECRET_PARAMETER: take(env.JWT_SECRET_PARAMETER),
    SECRETS_CACHE_SECONDS: secretsCacheSeconds(env.SECRETS_CACHE_SECONDS),
    ACCESS_TOKEN_TTL_SECONDS: positiveInt(env.ACCESS_TOKEN_TTL_SECONDS, 15 * 60),
    REFRESH_TOKEN_TTL_SECONDS: positiveInt(env.REFRESH_TOKEN_TTL_SECONDS, 7 * 24 * 60 * 60),
    LOCKOUT_DURATION_SECONDS: positiveInt(env.LOCKOUT_DURATION_SECONDS, 15 * 60),
    CORS_ORIGINS: take(env.CORS_ORIGINS ?? ''),
  });

export interface LdapConfig {
  /** LDAP_URL as given (one URL or a list): names the directory, e.g. in caches. */
  readonly url: string;
  /** The servers to try in turn (lib/directory.ts): the next one when a server cannot be reached. */
  readonly urls: readonly string[];
  /** Upgrade ldap:// connections with StartTLS before the bind. */
  readonly startTls: boolean;
  /** PEM certificates trusted instead of Node's bundled CAs (LDAP_CA_FILE's contents). */
  readonly ca?: string;
  /** Accept any server certificate (local stage only). */
  readonly tlsInsecure: boolean;
  readonly baseDN: string;
  readonly bindDN: string;
  readonly bindPassword: string;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  /** Time kept at the end of an invocation for undoing the writes already made (lib/budget.ts). */
  readonly undoReserveMs: number;
}

export interface TokenConfig {
  readonly secret: Uint8Array;
  readonly accessTtlSeconds: number;
  readonly refreshTtlSeconds: number;
}

/** The secrets' names, as the environment spells them. */
export type SecretName = 'LDAP_BIND_PASSWORD' | 'JWT_SECRET';

/** A secret's value (local stage, from the environment) or the SSM parameter holding it (deployed). */
export type SecretSource = { readonly value: string } | { readonly parameter: string };

export type SecretSources = Readonly<Record<SecretName, SecretSource>> & {
  /** How long a value read from SSM is used before it is read again (lib/secrets.ts). */
  readonly cacheSeconds: number;
};

export interface Config {
  readonly stage: string;
  readonly secrets: SecretSources;
  readonly ldap: LdapConfig;
  readonly tokens: TokenConfig;
  /** How long a lock by failed logins lasts for logins through the API (see lib/locks.ts). */
  readonly lockoutSeconds: number;
  /** Browser origins (a console served elsewhere) that may call the API; none by default. */
  readonly corsOrigins: readonly string[];
}

export class ConfigError extends Error {}

/**
 * Stages whose secrets are in the environment (npm start, the tests); the others read SSM. The same
 * as local/stage-guard.mjs's list, which `serverless package` and `deploy` refuse (a unit test checks).
 */
export const LOCAL_STAGES: ReadonlySet<string> = new Set(['local', 'offline', 'test']);
const MIN_SECRET_BYTES = 32;
const PARAMETER_NAME = /^\/[\w.\-/]+$/;

const secretSource = (stage: string, name: SecretName, value: string | undefined, parameter: string | undefined): SecretSource => {
  const given = value !== undefined && value !== '';
  if (parameter !== undefined && parameter !== '') {
    if (!PARAMETER_NAME.test(parameter)) throw new ConfigError(`${name}_PARAMETER: must be an SSM parameter name such as /keyper/prod/jwt-secret`);
    if (given) throw new ConfigError(`${name}: set ${name}_PARAMETER or ${name}, not both`);
    return { parameter };
  }
  if (!LOCAL_STAGES.has(stage)) {
    throw new ConfigError(`${name}_PARAMETER: required outside the local stage (stage "${stage}"): the SSM SecureString parameter holding ${name}, which is never in the environment`);
  }
  // No made-up secret: each function would have its own, and refuse the others' tokens.
  if (!given) throw new ConfigError(`${name}: required on the local stage, which \`npm start\` and the tests run (they set it)`);
  return { value: checkSecret(name, value) };
};

/** A secret's value as the stage requires it (the JWT secret long enough); the error never holds it. */
export const checkSecret = (name: SecretName, value: string): string => {
  if (name === 'JWT_SECRET' && new TextEncoder().encode(value).length < MIN_SECRET_BYTES) {
    throw new ConfigError(`JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return value;
};

/** Values read from SSM (lib/secrets.ts), by parameter name: the latest read of each. */
const ssmValues = new Map<string, string>();

/** Records a value read from SSM; config() hands it out from now on. */
export const useSecretValue = (parameter: string, value: string): void => void ssmValues.set(parameter, value);

const secretValue = (name: SecretName, source: SecretSource): string => {
  if ('value' in source) return source.value;
  const value = ssmValues.get(source.parameter);
  if (value === undefined) throw new ConfigError(`${name}: SSM parameter ${source.parameter} has not been read by this function`);
  return value;
};

/**
 * LDAP_URL's servers, LDAP_STARTTLS and LDAP_CA_FILE/LDAP_TLS_INSECURE checked together: one scheme
 * for all servers (failing over from ldaps:// to a plain ldap:// one would send the passwords in
 * clear), StartTLS over ldaps:// is a contradiction, certificate settings without TLS a mistake,
 * and certificate checking may only be turned off on the local stage, whose secrets are not in SSM.
 * The CA file is read here, once.
 */
const parseLdapTransport = (e: { STAGE: string; LDAP_URL: string; LDAP_STARTTLS: boolean; LDAP_CA_FILE: string; LDAP_TLS_INSECURE: boolean }, secrets: SecretSources) => {
  const urls = Object.freeze([...new Set(e.LDAP_URL.split(',').map((url) => url.trim()))]);
  const ldaps = urls.some((url) => url.startsWith('ldaps:'));
  const tls = ldaps || e.LDAP_STARTTLS;
  const refuse = (why: string): never => {
    throw new ConfigError(why);
  };
  if (ldaps && !urls.every((url) => url.startsWith('ldaps:'))) {
    refuse('LDAP_URL: mixes ldaps:// and ldap:// servers, and the ldap:// ones would get the passwords in clear: list ldaps:// URLs only, or ldap:// ones only (with LDAP_STARTTLS=true)');
  }
  if (ldaps && e.LDAP_STARTTLS) refuse('LDAP_STARTTLS: not with ldaps:// URLs');
  if (e.LDAP_TLS_INSECURE && !LOCAL_STAGES.has(e.STAGE)) refuse(`LDAP_TLS_INSECURE: refused outside the local stage (stage "${e.STAGE}")`);
  if (e.LDAP_TLS_INSECURE && ('parameter' in secrets.LDAP_BIND_PASSWORD || 'parameter' in secrets.JWT_SECRET)) {
    refuse('LDAP_TLS_INSECURE: refused where the secrets come from SSM parameters (a deployed function)');
  }
  if (!tls && (e.LDAP_CA_FILE || e.LDAP_TLS_INSECURE)) refuse(`${e.LDAP_CA_FILE ? 'LDAP_CA_FILE' : 'LDAP_TLS_INSECURE'}: set, but no URL is ldaps:// and LDAP_STARTTLS is off`);
  let ca: string | undefined;
  if (e.LDAP_CA_FILE) {
    try {
      ca = readFileSync(e.LDAP_CA_FILE, 'utf8');
    } catch (error) {
      refuse(`LDAP_CA_FILE: ${(error as Error).message}`);
    }
    if (!ca?.includes('-----BEGIN CERTIFICATE-----')) refuse(`LDAP_CA_FILE: no PEM certificate in ${e.LDAP_CA_FILE}`);
  }
  return { urls, startTls: e.LDAP_STARTTLS, ...(ca === undefined ? {} : { ca }), tlsInsecure: e.LDAP_TLS_INSECURE };
};

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * CORS_ORIGINS: comma-separated exact origins (scheme, host, port), https except on loopback. No
 * wildcard: @middy/http-cors would read `*` as "any origin" or as a pattern.
 */
export const parseOrigins = (raw: string): string[] => {
  const origins = [...new Set(raw.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''))];
  for (const origin of origins) {
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
    if (url === undefined || url.origin !== origin || !secure || origin.includes('*')) {
      throw new ConfigError(`CORS_ORIGINS: "${origin}" must be an origin such as https://console.example.org (scheme, host and port only; http only for localhost)`);
    }
  }
  return origins;
};

/** Parses an environment into a Config (reading LDAP_CA_FILE); the secrets read from SSM are looked up on use. */
export const parseConfig = (env: NodeJS.ProcessEnv): Config => {
  const e = readEnvironment(env);
  const secrets: SecretSources = Object.freeze({
    LDAP_BIND_PASSWORD: Object.freeze(secretSource(e.STAGE, 'LDAP_BIND_PASSWORD', e.LDAP_BIND_PASSWORD, e.LDAP_BIND_PASSWORD_PARAMETER)),
    JWT_SECRET: Object.freeze(secretSource(e.STAGE, 'JWT_SECRET', e.JWT_SECRET, e.JWT_SECRET_PARAMETER)),
    cacheSeconds: e.SECRETS_CACHE_SECONDS,
  });
  return Object.freeze({
    stage: e.STAGE,
    secrets,
    ldap: Object.freeze({
      url: e.LDAP_URL,
      ...parseLdapTransport(e, secrets),
      baseDN: e.LDAP_BASE_DN,
      bindDN: e.LDAP_BIND_DN,
      get bindPassword() {
        return secretValue('LDAP_BIND_PASSWORD', secrets.LDAP_BIND_PASSWORD);
      },
      connectTimeoutMs: e.LDAP_CONNECT_TIMEOUT_MS,
      timeoutMs: e.LDAP_TIMEOUT_MS,
      undoReserveMs: e.LDAP_UNDO_RESERVE_MS,
    }),
    tokens: Object.freeze({
      get secret() {
        return new TextEncoder().encode(secretValue('JWT_SECRET', secrets.JWT_SECRET));
      },
      accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    }),
    lockoutSeconds: e.LOCKOUT_DURATION_SECONDS,
    corsOrigins: Object.freeze(parseOrigins(e.CORS_ORIGINS)),
  });
};

let cached: Config | undefined;

/** The process's configuration, read on first use (the cold start) and then reused. */
export const config = (): Config => (cached ??= parseConfig(process.env));

/** Forgets the cached configuration so the next call reads the environment again (tests, scripts). */
export const reloadConfig = (): void => {
  cached = undefined;
};
