// The factories that turn business logic into a Lambda handler. Every function file is
// `export const handler = route({ access, body }, async ({ ... }) => response)`, or
// `publicRoute({ body }, ...)` for a route without a token, whose bundle then does without the
// token code (lib/auth.ts, jose): sshd's public routes start faster.
// Order per request: parse body → check the token (no directory yet) → open directory → read the
// caller's entry, authorize → validate → work → unbind (→ compress, on routes with large answers);
// public routes validate their body and query before the directory is opened. Every error
// becomes a JSON `{"msg": ...}` response in one place (errorResponder). The directory work keeps
// to the invocation's time budget (lib/budget.ts); timeouts answer 503.
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import httpUrlEncodeBodyParser from '@middy/http-urlencode-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Client } from 'ldapts';
import type * as z from './zod.js';
import { authenticate, verifyCaller, type Access, type Caller, type VerifiedToken } from './auth.js';
import type { CaContext, CaKind, CaMiddleware, CertificateAuthorities } from './cakeys.js';
import { browserSafety } from './browser.js';
import { config, type SecretName } from './config.js';
import { budgetFor, type Budget } from './budget.js';
import { withDirectory } from './directory.js';
import { badRequest, toApiError } from './errors.js';
import { refusedSearchError } from './indexes.js';
import { auditLogger } from './audit.js';
import { log, logger, withLogFields } from './log.js';
import { count, metrics } from './metrics.js';
import { readSecrets } from './secrets.js';
import { parseInput } from './input.js';

export type Event = APIGatewayProxyEventV2;
export type Result = APIGatewayProxyStructuredResultV2;
type KeyperContext = Context & CaContext & { caller?: string };

export const json = (statusCode: number, body: unknown): Result => ({
  statusCode,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

export const text = (statusCode: number, body: string): Result => ({
  statusCode,
  headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  body,
});

interface Invocation<TBody, TCaller, TQuery = undefined> {
  event: Event;
  /** Bound as the service account; unbound by the factory after the work. */
  client: Client;
  caller: TCaller;
  body: TBody;
  /** The parameters validated with the route's `query` or `params` schema. */
  query: TQuery;
  /** The CAs named in the route's `ca` option (lib/cakeys.ts). */
  cas: CertificateAuthorities;
}

interface RouteOptions<TBody, TQuery = undefined> {
  /** Schema of the JSON body; routes without one ignore any body. */
  body?: z.ZodMiniType<TBody>;
  /** Schema of the query string's parameters. */
  query?: z.ZodMiniType<TQuery>;
  /**
   * Instead of `query`: schema of the parameters read from the body's fields and the query string
   * together, the query's winning (sshd's scripts send either); `body` must then be an object's.
   */
  params?: z.ZodMiniType<TQuery>;
  /** Accept `application/x-www-form-urlencoded` bodies too (sshd scripts post forms). */
  form?: boolean;
  /**
   * The certificate authorities the route signs or publishes with (`caKeys([...])` of
   * lib/cakeys.ts, which only those routes bundle), read once per cold start.
   */
  ca?: CaMiddleware;
  /** A public route that issues tokens (login): it reads the JWT secret too. */
  issuesTokens?: boolean;
  /**
   * A public route's check, without the directory, that its parameters can match anything at all
   * (names that cannot exist, serial 0): when not, the empty text answer an unknown name gets,
   * before any connection.
   */
  matchable?: (query: TQuery) => boolean;
  /**
   * For routes whose answers can be large (lists, groups): lib/encoding.ts's responseEncoding(),
   * which compresses them when the client accepts it and refuses those over Lambda's limit.
   * Passed in by those routes, so that the other functions' bundles do without it.
   */
  encoding?: middy.MiddlewareObj<Event, Result>;
}

/**
 * What every log and audit line of a request carries: Lambda's request id, the route, the
 * function's version (Powertools' lines name the function, not its version) and the client's
 * address; the caller is added once the token names one.
 */
const lineFields = (event: Event, context: Context): Record<string, unknown> => ({
  requestId: context.awsRequestId,
  route: event.routeKey,
  function_version: context.functionVersion,
  sourceIp: event.requestContext.http.sourceIp,
});

/** Shapes every error as `{"msg": ...}` with the right status and logs what the client is not told. */
const errorResponder = (): middy.MiddlewareObj<Event, Result, Error, KeyperContext> => ({
  onError: (request) => {
    const apiError = refusedSearchError(request.error) ?? toApiError(request.error);
    if (apiError.statusCode >= 500) {
      log('error', 'request failed', {
        ...lineFields(request.event, request.context),
        status: apiError.statusCode,
        error: String(request.error),
      });
    }
    request.error = apiError;
  },
});

/** One JSON log line per request: route, status, duration, caller and source address. */
const requestLog = (): middy.MiddlewareObj<Event, Result, Error, KeyperContext> => {
  const started = new WeakMap<object, number>();
  const write = (request: middy.Request<Event, Result, Error, KeyperContext>): void => {
    if (request.response?.statusCode === 503) count('ServiceUnavailable');
    log('info', 'request', {
      ...lineFields(request.event, request.context),
      status: request.response?.statusCode,
      durationMs: Date.now() - (started.get(request) ?? Date.now()),
      caller: request.context.caller,
    });
  };
  return {
    before: (request) => void started.set(request, Date.now()),
    after: write,
    onError: write,
  };
};

/**
 * Middy's parsers answer 415 both to a wrong content type and to a body that does not parse; the
 * latter is a bad request (400, same message). 415 stays for the wrong content type.
 */
const malformedIsBadRequest = (parser: middy.MiddlewareObj<Event>): middy.MiddlewareObj<Event> => ({
  before: async (request) => {
    try {
      await parser.before?.(request);
    } catch (error) {
      const { statusCode, message } = error as { statusCode?: unknown; message?: unknown };
      if (statusCode === 415 && typeof message === 'string' && message !== 'Unsupported Media Type') throw badRequest(message);
      throw error;
    }
  },
});

/** Parses JSON bodies, and form bodies where allowed, leaving other content types to the schema. */
const bodyParsers = <TBody, TQuery>(options: RouteOptions<TBody, TQuery>): middy.MiddlewareObj<Event>[] => {
  if (options.body === undefined) return [];
  if (!options.form) return [malformedIsBadRequest(httpJsonBodyParser<Event>())];
  // The urlencode parser is typed for REST API events only; its `before` reads the same fields.
  const formParser = httpUrlEncodeBodyParser({ disableContentTypeError: true }) as unknown as middy.MiddlewareObj<Event>;
  return [malformedIsBadRequest(httpJsonBodyParser<Event>({ disableContentTypeError: true })), malformedIsBadRequest(formParser)];
};

/** The time this invocation has (Lambda's remaining time), and Middy's abort signal. */
const invocationBudget = (context: Context, signal: AbortSignal | undefined): Budget =>
  budgetFor(typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined, config().ldap.undoReserveMs, signal);

/** For routes without CAs. */
const NO_CAS: CertificateAuthorities = {
  get: (kind) => {
    throw new Error(`this route has no ${kind} CA`);
  },
};

/** What a route was built with, readable on its handler (test/e2e/openapi.test.ts checks the API description against it). */
export interface RouteFacts {
  access: Access;
  body?: z.ZodMiniType<unknown>;
  query?: z.ZodMiniType<unknown>;
  params?: z.ZodMiniType<unknown>;
  /** The secrets and CA keys the function reads (its IAM role in serverless.yml may read those alone). */
  secrets: readonly SecretName[];
  cas: readonly CaKind[];
}

const withFacts = <THandler extends object>(handler: THandler, facts: RouteFacts): THandler & { route: RouteFacts } =>
  Object.assign(handler, { route: facts });

/** What every function does around its work: log, browser headers, error responses, header names. */
const commonMiddlewares = (encoding?: middy.MiddlewareObj<Event, Result>): middy.MiddyfiedHandler<Event, Result, Error, KeyperContext> =>
  middy<Event, Result, Error, KeyperContext>()
    // Outermost: the Lambda context in every line from the start, the metrics written at the very end.
    // Never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: it holds passwords and tokens.
    .use(injectLambdaContext([logger, auditLogger], { logEvent: false }))
    .use(logMetrics(metrics))
    .use(requestLog())
    // Its `after` runs last but the log's: it compresses and measures the response as it will leave.
    .use(encoding === undefined ? [] : [encoding])
    // Before the error handler, so that its error responses get them too.
    .use(browserSafety(config().corsOrigins))
    .use(httpErrorHandler({ logger: false }))
    .use(errorResponder())
    .use(httpHeaderNormalizer());

/**
 * A route that needs neither a token nor the directory (the API description, CORS preflight, the
 * CAs' public keys): it reads no secret but the keys of the CAs in `ca`, and opens no connection.
 */
export const routeWithoutDirectory = (
  work: (invocation: Pick<Invocation<undefined, undefined>, 'event' | 'cas'>) => Promise<Result>,
  options: Pick<RouteOptions<undefined>, 'ca'> = {},
): middy.MiddyfiedHandler<Event, Result, Error, KeyperContext> => {
  let handler = commonMiddlewares();
  if (options.ca !== undefined) handler = handler.use(options.ca as middy.MiddlewareObj<Event, Result, Error, KeyperContext>);
  return withFacts(
    handler.handler((event, context) => withLogFields(lineFields(event, context), () => work({ event, cas: context.cas ?? NO_CAS }))),
    { access: 'public', secrets: [], cas: options.ca?.kinds ?? [] },
  );
};

/** How a token route checks its caller: the token before the directory, then the caller's entry on it (lib/auth.ts). */
interface CallerCheck {
  verify: (event: Event) => Promise<VerifiedToken>;
  authenticate: (client: Client, event: Event, token: VerifiedToken) => Promise<Caller>;
}

/** A route of `access`; with `check`, the caller is identified before the work. */
const makeRoute = <TBody, TQuery, TCaller extends Caller | undefined>(
  access: Access,
  options: RouteOptions<TBody, TQuery>,
  work: (invocation: Invocation<TBody, TCaller, TQuery>) => Promise<Result>,
  check: CallerCheck | undefined,
): middy.MiddyfiedHandler<Event, Result, Error, KeyperContext> => {
  // Validate the configuration at module load (the cold start): a function with a missing or
  // malformed variable fails to start, with a message naming the variable.
  config();
  const core = (event: Event, context: KeyperContext, { signal }: { signal?: AbortSignal } = {}): Promise<Result> => {
    const fields = lineFields(event, context);
    return withLogFields(fields, async () => {
      const parseRequest = (): { body: TBody; query: TQuery } => {
        const body = options.body === undefined ? (undefined as TBody) : parseInput(options.body, event.body);
        const { query: querySchema, params } = options;
        if (params !== undefined) return { body, query: parseInput(params, { ...(body as object | undefined), ...event.queryStringParameters }) };
        return { body, query: querySchema === undefined ? (undefined as TQuery) : parseInput(querySchema, event.queryStringParameters) };
      };
      // Before connecting: a request without a valid token, or a public route's malformed body or
      // query (a stranger's), costs the directory nothing. Other routes check them once the caller may.
      const token = check === undefined ? undefined : await check.verify(event);
      const publicRequest = check === undefined ? parseRequest() : undefined;
      if (publicRequest !== undefined && options.matchable?.(publicRequest.query) === false) return text(200, '');
      return withDirectory(async (client) => {
        const caller = token === undefined || check === undefined ? undefined : await check.authenticate(client, event, token);
        context.caller = caller?.name;
        // Audit lines name who changed what (lib/audit.ts).
        if (caller !== undefined) fields.caller = caller.name;
        const { body, query } = publicRequest ?? parseRequest();
        // route() gives a check, and so a Caller; publicRoute() neither.
        return work({ event, client, caller: caller as TCaller, body, query, cas: context.cas ?? NO_CAS });
      }, undefined, undefined, invocationBudget(context, signal));
    });
  };
  // Every route here binds as the service account; those that take or issue a token need its secret.
  const secrets: SecretName[] = access === 'public' && options.issuesTokens !== true ? ['LDAP_BIND_PASSWORD'] : ['LDAP_BIND_PASSWORD', 'JWT_SECRET'];
  const secretsReader = readSecrets(secrets);
  let handler = commonMiddlewares(options.encoding);
  for (const parser of bodyParsers(options)) handler = handler.use(parser);
  if (secretsReader !== undefined) handler = handler.use(secretsReader as middy.MiddlewareObj<Event, Result, Error, KeyperContext>);
  if (options.ca !== undefined) handler = handler.use(options.ca as middy.MiddlewareObj<Event, Result, Error, KeyperContext>);
  return withFacts(handler.handler(core), { access, body: options.body, query: options.query, params: options.params, secrets, cas: options.ca?.kinds ?? [] });
};

/** A route that takes a token of `access`: the caller is known before the work. */
export const route = <TBody = undefined, TQuery = undefined>(
  options: Omit<RouteOptions<TBody, TQuery>, 'issuesTokens' | 'matchable'> & { access: Exclude<Access, 'public'> },
  work: (invocation: Invocation<TBody, Caller, TQuery>) => Promise<Result>,
): middy.MiddyfiedHandler<Event, Result, Error, KeyperContext> =>
  makeRoute(options.access, options, work, { verify: (event) => verifyCaller(event, options.access), authenticate });

/** A route without a token (sshd's, the health check, login): its bundle has no token checking. */
export const publicRoute = <TBody = undefined, TQuery = undefined>(
  options: RouteOptions<TBody, TQuery>,
  work: (invocation: Invocation<TBody, undefined, TQuery>) => Promise<Result>,
): middy.MiddyfiedHandler<Event, Result, Error, KeyperContext> => makeRoute('public', options, work, undefined);
