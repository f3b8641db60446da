// The OpenAPI description against what it describes: openapi.json is what `npm run openapi` makes
// of lib/openapi.ts now; every route of serverless.yml has an entry there naming the handler's own
// body schema and access level, and the document describes it with its auth, request and answers;
// GET /api/openapi.json serves the file; and real answers over HTTP, successes and errors of
// every kind of route, validate against it (ajv, JSON Schema 2020-12, OpenAPI 3.1's dialect).
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS, type OpenApiDocument } from '../../lib/openapi.js';
import type { RouteFacts } from '../../lib/handler.js';
import { OPENAPI_FILE, openApiText } from '../../scripts/openapi.js';
import { handler as preflightHandler } from '../../functions/public/preflight.js';
import { ADMIN_PASSWORD, http, invoke, login, uniqueName, type Reply, type Tokens } from '../helpers.js';

interface ServerlessYml {
  functions: Record<string, { handler: string; events?: { httpApi?: { method: string; path: string } }[] }>;
}

/** Every route of serverless.yml with the module of its handler. */
const declared = (): { route: string; method: string; path: string; module: string }[] => {
  const yml = load(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8')) as ServerlessYml;
  return Object.values(yml.functions).flatMap(({ handler, events }) =>
    (events ?? []).flatMap(({ httpApi }) =>
      httpApi === undefined
        ? []
        : [{ route: `${httpApi.method.toUpperCase()} ${httpApi.path}`, method: httpApi.method.toLowerCase(), path: httpApi.path, module: handler.slice(0, handler.lastIndexOf('.')) }],
    ),
  );
};

const fileDocument = (): OpenApiDocument => JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;

type Operation = Record<string, unknown> & {
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};

const operationOf = (document: OpenApiDocument, method: string, path: string): Operation | undefined =>
  document.paths[path]?.[method] as Operation | undefined;

describe('openapi.json', () => {
  it('is what `npm run openapi` writes from lib/openapi.ts now', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8') === openApiText(), 'openapi.json is out of date: run `npm run openapi`').toBe(true);
  });

  it('describes no route that serverless.yml does not declare', () => {
    const routes = new Set(declared().map(({ route }) => route));
    expect(Object.keys(OPERATIONS).filter((route) => !routes.has(route))).toEqual([]);
  });

  describe.each(declared())('$route', ({ route, method, path, module }) => {
    it('has an entry in lib/openapi.ts with the schema and access its handler is built with', async () => {
      const entry = OPERATIONS[route];
      expect(entry, `describe ${route} in lib/openapi.ts (OPERATIONS), then run npm run openapi`).toBeDefined();
      const { handler } = (await import(/* @vite-ignore */ new URL(`../../${module}.ts`, import.meta.url).href)) as { handler: { route?: RouteFacts } };
      expect(handler.route, `${module} is not built by lib/handler.ts`).toBeDefined();
      expect(entry!.access).toBe(handler.route!.access);
      if (entry!.params === undefined) expect(entry!.body, 'the body schema must be the one the handler validates with').toBe(handler.route!.body);
      // Parameters read from query and body together: the handler parses a body, and validates both with params.
      else expect(handler.route!.body).toBeDefined();
      expect(handler.route!.params, 'the parameters schema must be the one the handler validates with').toBe(entry!.params);
      // Public routes validate their query in the route factory, before the directory is opened.
      if (entry!.access === 'public') expect(handler.route!.query, 'the query schema must be the one the handler validates with').toBe(entry!.query);
      // A route that binds to the directory reads the bind password; one that never contacts it does not.
      expect(handler.route!.secrets.includes('LDAP_BIND_PASSWORD')).toBe(entry!.directory !== false);
    });

    it('is in the document with its auth, request and answers', () => {
      const entry = OPERATIONS[route]!;
      const operation = operationOf(fileDocument(), method, path);
      expect(operation, `${route} is not in openapi.json`).toBeDefined();
      expect(operation!.summary).toEqual(expect.any(String));
      expect(operation!.security).toEqual(entry.access === 'public' ? expect.not.arrayContaining([{ bearer: [] }]) : [{ bearer: [] }]);
      if (entry.access === 'public') expect(operation!.security!.length === 0 || operation!.security!.some((s) => Object.keys(s).length === 0)).toBe(true);
      const pathParameters = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => name);
      expect(operation!.parameters?.filter((p) => p.in === 'path').map((p) => p.name) ?? []).toEqual(pathParameters);
      const sendsBody = entry.body !== undefined || (entry.params !== undefined && method !== 'get');
      expect(operation!.requestBody !== undefined).toBe(sendsBody);
      if (sendsBody) expect(operation!.requestBody!.content['application/json']?.schema).toBeDefined();
      const statuses = Object.keys(operation!.responses);
      expect(statuses.some((status) => status.startsWith('2'))).toBe(true);
      if (entry.access !== 'public') expect(statuses).toContain('401');
      if (sendsBody) expect(statuses).toContain('400');
    });
  });
});

describe('answers over HTTP', () => {
  let document: OpenApiDocument;
  let ajv: Ajv2020;
  let admin: Tokens;
  let alice: Tokens;
  const cleanups: (() => Promise<unknown>)[] = [];

  /** JSON pointer into the document, as a URI fragment. */
  const pointer = (...parts: string[]): string => parts.map((part) => encodeURIComponent(part.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');

  /** Checks one answer against the document: a described status, its media type and its schema. */
  const check = (route: string, reply: Reply, status: number): void => {
    expect(reply.status, `${route}: ${reply.text}`).toBe(status);
    const [method, path] = route.toLowerCase().startsWith('options') ? ['options', route.slice(8)] : [route.split(' ')[0]!.toLowerCase(), route.split(' ')[1]!];
    const operation = operationOf(document, method, path);
    expect(operation, route).toBeDefined();
    const answer = operation!.responses[String(reply.status)];
    expect(answer, `${route} does not describe status ${reply.status}`).toBeDefined();
    const media = Object.keys(answer!.content ?? {});
    if (media.length === 0) {
      expect(reply.text, `${route} ${reply.status} has no body`).toBe('');
    } else {
      const type = (reply.headers['content-type'] ?? '').split(';')[0]!;
      expect(media, `${route} ${reply.status}: content type`).toContain(type);
      if (type === 'application/json') {
        const validate = ajv.getSchema(`openapi#/${pointer('paths', path, method, 'responses', String(reply.status), 'content', type, 'schema')}`);
        expect(validate, `${route} ${reply.status}: schema`).toBeDefined();
        const valid = validate!(reply.body);
        expect(valid, `${route} ${reply.status}: ${ajv.errorsText(validate!.errors)} in ${reply.text.slice(0, 500)}`).toBe(true);
      }
    }
  };

  beforeAll(async () => {
    const served = await http('GET', '/openapi.json');
    document = served.body as OpenApiDocument;
    ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema(document, 'openapi');
    admin = await login('admin', ADMIN_PASSWORD);
    alice = await login('alice', 'alice-demo');
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('serves openapi.json as the file has it', async () => {
    const served = await http('GET', '/openapi.json');
    check('GET /api/openapi.json', served, 200);
    expect(served.body).toEqual(fileDocument());
  });

  it('describes the answers of logins, tokens and the operations routes', async () => {
    const token = admin.access_token;
    check('POST /api/login', await http('POST', '/login', { json: { username: 'alice', password: 'alice-demo' } }), 200);
    check('POST /api/login', await http('POST', '/login', { json: { username: 'alice', password: 'wrong-password' } }), 401);
    check('POST /api/login', await http('POST', '/login', { json: { password: 'x' } }), 400);
    check('POST /api/login', await http('POST', '/login', { body: 'username=alice', headers: { 'content-type': 'text/plain' } }), 415);
    check('POST /api/refresh', await http('POST', '/refresh', { token: admin.refresh_token, json: {} }), 200);
    check('GET /api/check_jwt_token', await http('GET', '/check_jwt_token', { token }), 200);
    check('GET /api/check_jwt_token', await http('GET', '/check_jwt_token', { token: 'not.a.jwt' }), 401);
    check('GET /api/health', await http('GET', '/health'), 200);
    // Invoked directly: serverless-offline answers every OPTIONS request with 200, whatever the function says.
    const preflight = { method: 'OPTIONS', route: '/api/{proxy+}', pathParameters: { proxy: 'users' }, headers: { origin: 'https://console.example.org' } };
    check('OPTIONS /api/{proxy+}', await invoke(preflightHandler, preflight), 204);
    const own = await login('alice', 'alice-demo');
    check('DELETE /api/logout', await http('DELETE', '/logout', { token: own.access_token }), 200);
  });

  it('describes the answers of the user routes', async () => {
    const token = admin.access_token;
    const cn = uniqueName('oa');
    cleanups.push(() => http('DELETE', `/users/${cn}`, { token }));
    const user = { cn, userPassword: 'openapi-pw-1', confirmPassword: 'openapi-pw-1', givenName: 'Open', sn: 'Api', duration: 1, durationUnit: 'Days' };
    check('GET /api/users', await http('GET', '/users', { token }), 200);
    check('GET /api/users', await http('GET', '/users', { token: alice.access_token }), 403);
    check('GET /api/users/{name}', await http('GET', '/users/alice', { token }), 200);
    check('GET /api/users/{name}', await http('GET', '/users/nosuchuser', { token }), 404);
    check('GET /api/users/{name}', await http('GET', '/users/Not%20A%20Name', { token }), 400);
    check('POST /api/users', await http('POST', '/users', { token, json: user }), 201);
    check('POST /api/users', await http('POST', '/users', { token, json: user }), 409);
    check('POST /api/users', await http('POST', '/users', { token, json: { ...user, cn: 'x', mail: 'not mail' } }), 400);
    check('PUT /api/users/{name}', await http('PUT', `/users/${cn}`, { token, json: { sn: 'Changed', principal: [`${cn}-p`] } }), 200);
    check('PUT /api/users/{name}', await http('PUT', `/users/${cn}`, { token, json: { nonsense: true } }), 400);
    check('DELETE /api/users/{name}', await http('DELETE', `/users/${cn}`, { token }), 200);
    check('DELETE /api/users/{name}', await http('DELETE', '/users/admin', { token }), 403);
  });

  it('describes the answers of the group and host routes', async () => {
    const token = admin.access_token;
    const group = uniqueName('oag');
    const host = `${uniqueName('oah')}.example.org`;
    cleanups.push(() => http('DELETE', `/groups/${group}`, { token }), () => http('DELETE', `/hosts/${host}`, { token }));
    check('GET /api/groups', await http('GET', '/groups', { token }), 200);
    check('GET /api/groups/{name}', await http('GET', '/groups/demo_servers', { token }), 200);
    check('POST /api/groups', await http('POST', '/groups', { token, json: { cn: group, description: 'openapi', members: [] } }), 201);
    check('PUT /api/groups/{name}', await http('PUT', `/groups/${group}`, { token, json: { description: null } }), 200);
    check('DELETE /api/groups/{name}', await http('DELETE', `/groups/${group}`, { token }), 200);
    check('GET /api/hosts', await http('GET', '/hosts', { token }), 200);
    check('GET /api/hosts/{name}', await http('GET', '/hosts/web1', { token }), 200);
    check('POST /api/hosts', await http('POST', '/hosts', { token, json: { cn: host, description: 'openapi' } }), 201);
    check('PUT /api/hosts/{name}', await http('PUT', `/hosts/${host}`, { token, json: { rotateCredential: true } }), 200);
    check('PUT /api/hosts/{name}', await http('PUT', `/hosts/${host}`, { token, json: { description: 'changed' } }), 200);
    check('DELETE /api/hosts/{name}', await http('DELETE', `/hosts/${host}`, { token }), 200);
  });

  it('describes the answers of the public server routes', async () => {
    check('GET /api/authkeys', await http('GET', '/authkeys?username=alice&host=web1'), 200);
    check('GET /api/authkeys', await http('GET', '/authkeys?username=alice'), 400);
    check('POST /api/authkeys', await http('POST', '/authkeys', { body: 'username=alice&host=web1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 200);
    const fingerprint = encodeURIComponent(`SHA256:${'A'.repeat(43)}`);
    check('GET /api/authprinc', await http('GET', `/authprinc?username=alice&host=web1&fingerprint=${fingerprint}&serial=1`), 200);
    check('GET /api/authprinc', await http('GET', '/authprinc?username=alice&host=web1'), 400);
    check('POST /api/authprinc', await http('POST', '/authprinc', { body: `username=alice&host=web1&fingerprint=${fingerprint}&serial=1`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 200);
    check('GET /api/usercert', await http('GET', '/usercert?username=alice'), 200);
    check('GET /api/usercert', await http('GET', '/usercert?username=alice&keyid=x'), 400);
    check('GET /api/hostcert', await http('GET', '/hostcert?hostname=web1'), 200);
    check('GET /api/userca', await http('GET', '/userca'), 200);
    check('GET /api/hostca', await http('GET', '/hostca'), 200);
    const krl = await http('GET', '/krlca');
    check('GET /api/krlca', { ...krl, text: '' }, 200);
    check('GET /api/krlca', await http('GET', '/krlca', { headers: { 'If-None-Match': krl.headers.etag! } }), 304);
  });
});
