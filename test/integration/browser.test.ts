// Browser safety of the functions' answers, invoked as Lambda would: security headers on JSON,
// plain-text and error answers alike; CORS headers for the configured console origins only, and
// none at all when no origin is configured (the default). Over HTTP: test/e2e/cors.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler as authkeys } from '../../functions/public/authkeys.js';
import { handler as health } from '../../functions/public/health.js';
import { handler as preflight } from '../../functions/public/preflight.js';
import { handler as listUsers } from '../../functions/users/list.js';
import { reloadConfig } from '../../lib/config.js';
import { env, invoke, type Reply } from '../helpers.js';

const CONSOLE = 'https://console.example.org';
const STRANGER = 'https://evil.example.net';

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'x-permitted-cross-domain-policies': 'none',
};

const expectSecurityHeaders = (reply: Reply): void => {
  expect(reply.headers).toMatchObject(SECURITY_HEADERS);
  expect(reply.headers).not.toHaveProperty('reporting-endpoints');
  // Lambda would drop undefined values; nothing may rely on that.
  expect(Object.values(reply.headers)).not.toContain('undefined');
};

afterEach(() => {
  process.env.CORS_ORIGINS = env().CORS_ORIGINS;
  reloadConfig();
  vi.resetModules();
});

describe('security headers', () => {
  it('come with a JSON answer, a plain-text answer, an error and a preflight', async () => {
    const replies = [
      await invoke(health, { method: 'GET', route: '/api/health' }),
      await invoke(authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'alice', host: 'web1' } }),
      await invoke(listUsers, { method: 'GET', route: '/api/users' }),
      await invoke(preflight, { method: 'OPTIONS', route: '/api/{proxy+}', pathParameters: { proxy: 'users' } }),
    ];
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 401, 204]);
    expect(replies[1]!.headers['content-type']).toMatch(/^text\/plain/);
    for (const reply of replies) expectSecurityHeaders(reply);
  });
});

describe('CORS', () => {
  it('names an allowed origin, with what a console may send and read', async () => {
    const reply = await invoke(listUsers, { method: 'GET', route: '/api/users', headers: { origin: CONSOLE } });
    expect(reply.status).toBe(401);
    expect(reply.headers['access-control-allow-origin']).toBe(CONSOLE);
    expect(reply.headers['access-control-expose-headers']).toContain('ETag');
    expect(reply.headers.vary).toBe('Origin');
    expect(reply.headers).not.toHaveProperty('access-control-allow-credentials');
  });

  it('answers a preflight from an allowed origin with the methods and headers it may use', async () => {
    const reply = await invoke(preflight, {
      method: 'OPTIONS',
      route: '/api/{proxy+}',
      pathParameters: { proxy: 'users/alice' },
      headers: { origin: CONSOLE, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe(CONSOLE);
    expect(reply.headers['access-control-allow-methods']).toContain('PUT');
    expect(reply.headers['access-control-allow-headers']).toContain('Authorization');
    expect(reply.headers['access-control-max-age']).toBe('7200');
  });

  it('never names another origin', async () => {
    for (const origin of [STRANGER, 'null', `${CONSOLE}.evil.example.net`, 'constructor']) {
      const replies = [
        await invoke(listUsers, { method: 'GET', route: '/api/users', headers: { origin } }),
        await invoke(preflight, { method: 'OPTIONS', route: '/api/{proxy+}', pathParameters: { proxy: 'users' }, headers: { origin } }),
      ];
      for (const reply of replies) expect(reply.headers['access-control-allow-origin'], origin).toBe(CONSOLE);
    }
  });

  it('sends no CORS header at all when no origin is configured', async () => {
    process.env.CORS_ORIGINS = '';
    reloadConfig();
    vi.resetModules();
    const { handler } = await import('../../functions/public/preflight.js');
    const { handler: list } = await import('../../functions/users/list.js');
    const replies = [
      await invoke(handler, { method: 'OPTIONS', route: '/api/{proxy+}', pathParameters: { proxy: 'users' }, headers: { origin: CONSOLE } }),
      await invoke(list, { method: 'GET', route: '/api/users', headers: { origin: CONSOLE } }),
    ];
    for (const reply of replies) {
      expect(Object.keys(reply.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
      expectSecurityHeaders(reply);
    }
  });
});
