// Every route declared in serverless.yml, over HTTP: no token, a garbage token, an expired one,
// one signed with another secret, an `alg: none` one and a token of the wrong type are 401; a
// non-admin gets 403 where the route is not theirs; an administrator succeeds. A route added to
// serverless.yml without a row here fails the first test.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, env, http, login, uniqueName, type Tokens } from '../helpers.js';

type Access = 'public' | 'session' | 'admin' | 'owner' | 'refresh';

interface Sample {
  path: string;
  json?: unknown;
  status: number;
}

interface Row {
  access: Access;
  /** A request an administrator may make, and the status it must get; may create what it needs. */
  sample: () => Promise<Sample>;
}

let admin: Tokens;
let alice: Tokens;
const cleanups: (() => Promise<unknown>)[] = [];

type Area = 'users' | 'groups' | 'hosts';

/** What POST /api/<area> needs to create an entity named `cn`. */
const NEW_BODIES: Record<Area, (cn: string) => Record<string, unknown>> = {
  users: (cn) => ({ cn, userPassword: 'route-test-pw', confirmPassword: 'route-test-pw', givenName: 'Route', sn: 'Test', duration: 1, durationUnit: 'Days' }),
  groups: (cn) => ({ cn, description: 'route test', members: [] }),
  hosts: (cn) => ({ cn, description: 'route test', duration: 1, durationUnit: 'Days' }),
};

/** A create request for a new entity of `area`, which is deleted again after the run. */
const creation = (area: Area): Sample => {
  const cn = uniqueName('rt');
  cleanups.push(() => http('DELETE', `/${area}/${cn}`, { token: admin.access_token }));
  return { path: `/${area}`, json: NEW_BODIES[area](cn), status: 201 };
};

/** Creates an entity of `area` to work on (deleted after the run) and returns its path. */
const scratch = async (area: Area): Promise<string> => {
  const { path, json } = creation(area);
  expect((await http('POST', path, { token: admin.access_token, json })).status).toBe(201);
  return `/${area}/${(json as { cn: string }).cn}`;
};

const ROUTES: Record<string, Row> = {
  'POST /api/login': { access: 'public', sample: async () => ({ path: '/login', json: { username: 'admin', password: ADMIN_PASSWORD }, status: 200 }) },
  'POST /api/refresh': { access: 'refresh', sample: async () => ({ path: '/refresh', json: {}, status: 200 }) },
  'DELETE /api/logout': { access: 'session', sample: async () => ({ path: '/logout', status: 200 }) },
  'GET /api/check_jwt_token': { access: 'session', sample: async () => ({ path: '/check_jwt_token', status: 200 }) },
  'GET /api/users': { access: 'admin', sample: async () => ({ path: '/users', status: 200 }) },
  'GET /api/users/{name}': { access: 'owner', sample: async () => ({ path: '/users/bob', status: 200 }) },
  'POST /api/users': { access: 'admin', sample: async () => creation('users') },
  'PUT /api/users/{name}': { access: 'owner', sample: async () => ({ path: '/users/bob', json: { sn: 'Builder' }, status: 200 }) },
  'DELETE /api/users/{name}': { access: 'admin', sample: async () => ({ path: await scratch('users'), status: 200 }) },
  'GET /api/groups': { access: 'admin', sample: async () => ({ path: '/groups', status: 200 }) },
  'GET /api/groups/{name}': { access: 'admin', sample: async () => ({ path: '/groups/demo_servers', status: 200 }) },
  'POST /api/groups': { access: 'admin', sample: async () => creation('groups') },
  'PUT /api/groups/{name}': { access: 'admin', sample: async () => ({ path: await scratch('groups'), json: { description: 'changed' }, status: 200 }) },
  'DELETE /api/groups/{name}': { access: 'admin', sample: async () => ({ path: await scratch('groups'), status: 200 }) },
  'GET /api/hosts': { access: 'admin', sample: async () => ({ path: '/hosts', status: 200 }) },
  'GET /api/hosts/{name}': { access: 'admin', sample: async () => ({ path: '/hosts/web1', status: 200 }) },
  'POST /api/hosts': { access: 'admin', sample: async () => creation('hosts') },
  'PUT /api/hosts/{name}': { access: 'admin', sample: async () => ({ path: await scratch('hosts'), json: { description: 'changed' }, status: 200 }) },
  'DELETE /api/hosts/{name}': { access: 'admin', sample: async () => ({ path: await scratch('hosts'), status: 200 }) },
  'GET /api/authkeys': { access: 'public', sample: async () => ({ path: '/authkeys?username=alice&host=web1', status: 200 }) },
  'POST /api/authkeys': { access: 'public', sample: async () => ({ path: '/authkeys?username=alice&host=web1', status: 200 }) },
  'GET /api/krlca': { access: 'public', sample: async () => ({ path: '/krlca', status: 200 }) },
  'GET /api/authprinc': { access: 'public', sample: async () => ({ path: `/authprinc?username=alice&host=web1&fingerprint=${encodeURIComponent(`SHA256:${'A'.repeat(43)}`)}&serial=1`, status: 200 }) },
  'POST /api/authprinc': { access: 'public', sample: async () => ({ path: `/authprinc?username=alice&host=web1&fingerprint=${encodeURIComponent(`SHA256:${'A'.repeat(43)}`)}&serial=1`, status: 200 }) },
  'GET /api/usercert': { access: 'public', sample: async () => ({ path: '/usercert?username=alice', status: 200 }) },
  'GET /api/hostcert': { access: 'public', sample: async () => ({ path: '/hostcert?hostname=web1', status: 200 }) },
  'GET /api/userca': { access: 'public', sample: async () => ({ path: '/userca', status: 200 }) },
  'GET /api/hostca': { access: 'public', sample: async () => ({ path: '/hostca', status: 200 }) },
  'GET /api/health': { access: 'public', sample: async () => ({ path: '/health', status: 200 }) },
  'GET /api/openapi.json': { access: 'public', sample: async () => ({ path: '/openapi.json', status: 200 }) },
  'OPTIONS /api/{proxy+}': { access: 'public', sample: async () => ({ path: '/users', status: 204 }) },
};

type HttpApiEvent = string | { method: string; path: string };
interface ServerlessYml {
  functions: Record<string, { events?: { httpApi?: HttpApiEvent }[] }>;
}

/** The routes serverless.yml declares, as "METHOD /path" (an httpApi event written either way). */
const declaredRoutes = (): string[] => {
  const yml = load(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8')) as ServerlessYml;
  return Object.values(yml.functions).flatMap(({ events = [] }) =>
    events.flatMap(({ httpApi }) => {
      if (httpApi === undefined) return [];
      const [method = '', path = ''] = typeof httpApi === 'string' ? httpApi.split(/\s+/) : [httpApi.method, httpApi.path];
      return [`${method.toUpperCase()} ${path}`];
    }),
  );
};

const secret = (): Uint8Array => new TextEncoder().encode(env().JWT_SECRET!);

/** A token shaped like the service's, signed as asked. */
const forge = async (options: { type?: 'access' | 'refresh'; expiresIn?: number; key?: Uint8Array } = {}): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ identity: 'admin', type: options.type ?? 'access', user_claims: '{role: keyper_admin}', sid: randomUUID() })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('admin')
    .setJti(randomUUID())
    .setIssuedAt(now - 3600)
    .setExpirationTime(now + (options.expiresIn ?? 600))
    .sign(options.key ?? secret());
};

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const unsignedToken = (): string => {
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: 'admin', identity: 'admin', type: 'access', user_claims: '{role: keyper_admin}', sid: randomUUID(), jti: randomUUID(), iat: now, exp: now + 600 };
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
};

const badTokens = async (access: Access): Promise<[string, string | undefined][]> => [
  ['no token', undefined],
  ['a garbage token', 'not.a.jwt'],
  ['an expired token', await forge({ type: access === 'refresh' ? 'refresh' : 'access', expiresIn: -60 })],
  ['a token signed with another secret', await forge({ type: access === 'refresh' ? 'refresh' : 'access', key: new TextEncoder().encode('x'.repeat(40)) })],
  ['an alg none token', unsignedToken()],
  [access === 'refresh' ? 'an access token as refresh token' : 'a refresh token as access token', await forge({ type: access === 'refresh' ? 'access' : 'refresh' })],
];

const call = (route: string, sample: Sample, token: string | undefined) => {
  const method = route.split(' ')[0]!;
  return http(method, sample.path, { ...(token === undefined ? {} : { token }), ...(sample.json === undefined ? {} : { json: sample.json }) });
};

beforeAll(async () => {
  admin = await login('admin', ADMIN_PASSWORD);
  alice = await login('alice', 'alice-demo');
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('the route table', () => {
  it('covers every route in serverless.yml', () => {
    const declared = declaredRoutes();
    expect(declared.length).toBeGreaterThanOrEqual(9);
    expect(declared.filter((route) => !(route in ROUTES))).toEqual([]);
    // And no row for a route that serverless.yml no longer declares.
    expect(Object.keys(ROUTES).filter((route) => !declared.includes(route))).toEqual([]);
  });
});

describe.each(declaredRoutes().filter((route) => ROUTES[route]?.access !== 'public'))('%s', (route) => {
  const row = (): Row => ROUTES[route]!;

  it('refuses every invalid token with 401 and a JSON msg', async () => {
    const sample = await row().sample();
    for (const [what, token] of await badTokens(row().access)) {
      const reply = await call(route, sample, token);
      expect(reply.status, what).toBe(401);
      expect(reply.body, what).toHaveProperty('msg');
    }
  });

  it('answers a non-admin as the role allows', async () => {
    const sample = await row().sample();
    // Logging out ends the session it is called with: use a session of its own.
    const tokens = route === 'DELETE /api/logout' ? await login('alice', 'alice-demo') : alice;
    const token = row().access === 'refresh' ? tokens.refresh_token : tokens.access_token;
    const reply = await call(route, sample, token);
    if (row().access === 'admin' || row().access === 'owner') {
      expect(reply.status).toBe(403);
      expect(reply.body).toEqual({ msg: 'Not Authorized to Access this resource' });
    } else {
      expect(reply.status).toBe(sample.status);
    }
  });

  it('lets an administrator through', async () => {
    const sample = await row().sample();
    // Logging out ends the session it is called with: use a session of its own.
    const tokens = route === 'DELETE /api/logout' ? await login('admin', ADMIN_PASSWORD) : admin;
    const reply = await call(route, sample, row().access === 'refresh' ? tokens.refresh_token : tokens.access_token);
    expect(reply.status, reply.text).toBe(sample.status);
  });
});
