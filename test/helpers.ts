// Shared test tools: API Gateway v2 events for direct handler calls, HTTP calls to the
// serverless-offline of this run, logins, and a snapshot of the whole directory to prove that a
// refused request changed nothing.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { Client } from 'ldapts';
import { expect, inject } from 'vitest';
import { containerDN } from '../lib/layout.js';

export const env = (): Record<string, string> => inject('env');
export const apiUrl = (): string => inject('apiUrl');
/** slapd's plain URL: the service's LDAP_URL may be ldaps://, StartTLS or a list (test/global-setup.ts). */
export const directoryUrl = (): string => inject('directoryUrl');
export const baseDN = (): string => env().LDAP_BASE_DN!;
// Not escaped, unlike lib/dn.ts's entityDN: tests build DNs of hostile names on purpose.
export const userDN = (name: string): string => `cn=${name},${containerDN('user', baseDN())}`;
export const groupDN = (name: string): string => `cn=${name},${containerDN('group', baseDN())}`;
export const hostDN = (name: string): string => `cn=${name},${containerDN('host', baseDN())}`;
export const ADMIN_PASSWORD = 'keyper-admin';

export interface EventInput {
  method: string;
  /** Route path as in serverless.yml, e.g. /api/users/{name}. */
  route: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  token?: string;
  /** A value to send as JSON, or a raw string body. */
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  /** Send the body base64-encoded (`isBase64Encoded: true`), as API Gateway does for some clients. */
  base64?: boolean;
}

/** The event's body fields: the JSON or raw body, base64-encoded when asked. */
const bodyOf = (input: EventInput): Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'> => {
  const body = input.json !== undefined ? JSON.stringify(input.json) : input.body;
  if (body === undefined) return { isBase64Encoded: false };
  return input.base64 === true ? { body: Buffer.from(body, 'utf8').toString('base64'), isBase64Encoded: true } : { body, isBase64Encoded: false };
};

/** An API Gateway HTTP API (payload 2.0) event, as Lambda receives it. */
export const apiEvent = (input: EventInput): APIGatewayProxyEventV2 => {
  const rawPath = input.route.replace(/\{(\w+)\}/g, (_, key: string) => encodeURIComponent(input.pathParameters?.[key] ?? ''));
  const headers: Record<string, string> = {
    ...(input.json === undefined ? {} : { 'content-type': 'application/json' }),
    ...(input.token === undefined ? {} : { authorization: `Bearer ${input.token}` }),
    ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const rawQueryString = new URLSearchParams(input.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: `${input.method} ${input.route}`,
    rawPath,
    rawQueryString,
    headers,
    ...(input.query === undefined ? {} : { queryStringParameters: input.query }),
    ...(input.pathParameters === undefined ? {} : { pathParameters: input.pathParameters }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: input.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: `test-${Math.random().toString(36).slice(2)}`,
      routeKey: `${input.method} ${input.route}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...bodyOf(input),
  };
};

export const lambdaContext = (): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:test',
  memoryLimitInMB: '256',
  awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
  logGroupName: 'test',
  logStreamName: 'test',
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

export interface Reply {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, else the raw text. */
  body: unknown;
  text: string;
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Invokes a handler directly with a real event, as Lambda would (`context` overrides, e.g. the time left). */
export const invoke = async (handler: Handler, input: EventInput, context: Partial<Context> = {}): Promise<Reply> => {
  const result = await handler(apiEvent(input), { ...lambdaContext(), ...context });
  const text = result.body ?? '';
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode ?? 200, headers, body: parse(text), text };
};

/** Calls the API over HTTP through this run's serverless-offline. */
export const http = async (
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> => {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${apiUrl()}${path}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: Object.fromEntries(response.headers.entries()), body: parse(text), text };
};

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** Logs in over HTTP and returns the tokens (fails the test on anything but 200). */
export const login = async (username: string, password: string): Promise<Tokens> => {
  const reply = await http('POST', '/login', { json: { username, password } });
  if (reply.status !== 200) throw new Error(`login ${username} failed: ${reply.status} ${reply.text}`);
  return reply.body as Tokens;
};

/** Logs in by invoking the login handler directly; returns the access token. */
export const tokenOf = async (username: string, password: string): Promise<string> => {
  const { handler: login } = await import('../functions/auth/login.js');
  const reply = await invoke(login, { method: 'POST', route: '/api/login', json: { username, password } });
  if (reply.status !== 200) throw new Error(`login ${username} failed: ${reply.status} ${reply.text}`);
  return (reply.body as { access_token: string }).access_token;
};

/** Runs `work` with an ldapts client bound as the service account (for setup and reading back). */
export const withManager = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ url: directoryUrl(), timeout: 5000, connectTimeout: 2000 });
  await client.bind(env().LDAP_BIND_DN!, env().LDAP_BIND_PASSWORD!);
  try {
    return await work(client);
  } finally {
    await client.unbind();
  }
};

/**
 * Every entry of the directory with its user attributes and memberOf / lock state, in a stable
 * order: two equal snapshots mean nothing was written in between.
 */
export const snapshot = async (): Promise<string> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(baseDN(), {
      scope: 'sub',
      attributes: ['*', 'memberOf', 'pwdAccountLockedTime', 'pwdFailureTime'],
      paged: true,
    });
    const normalised = searchEntries
      .map((entry) => {
        const attributes = Object.entries(entry)
          .filter(([name]) => name !== 'dn')
          .map(([name, value]) => [name.toLowerCase(), (Array.isArray(value) ? value : [value]).map(String).sort()] as const)
          .sort(([a], [b]) => a.localeCompare(b));
        return { dn: entry.dn.toLowerCase(), attributes };
      })
      .sort((a, b) => a.dn.localeCompare(b.dn));
    return JSON.stringify(normalised);
  });

/**
 * Sends requests that must all be refused as client errors (4xx with a JSON `msg`), and proves from
 * a snapshot taken before and after that they changed nothing in the directory.
 */
export const expectRefusedWithoutChange = async (send: () => Promise<Reply[]>): Promise<void> => {
  const before = await snapshot();
  for (const reply of await send()) {
    expect(reply.status, reply.text).toBeGreaterThanOrEqual(400);
    expect(reply.status, reply.text).toBeLessThan(500);
    expect(reply.body, reply.text).toHaveProperty('msg');
  }
  expect(await snapshot()).toBe(before);
};

/** A name unlikely to collide with another test's: prefix + random suffix (valid login name). */
export const uniqueName = (prefix: string): string => `${prefix}${Math.random().toString(36).slice(2, 8)}`;
