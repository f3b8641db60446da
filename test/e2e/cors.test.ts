// CORS over HTTP through serverless-offline, as a browser on a console's origin meets it: the run's
// CORS_ORIGINS (test/global-setup.ts) lists the console; another origin is never named, neither
// in a preflight answer nor in an answer (nor an error answer) it could read.
import { describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, env, http, login } from '../helpers.js';

const CONSOLE = 'https://console.example.org';
const STRANGER = 'https://evil.example.net';

const preflight = (origin: string) =>
  http('OPTIONS', '/users/alice', {
    headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,content-type' },
  });

describe('CORS through serverless-offline', () => {
  it('is configured for the console origin in this run', () => {
    expect(env().CORS_ORIGINS!.split(',')).toContain(CONSOLE);
  });

  it('lets the console origin through a preflight, with the method and headers it asked for', async () => {
    const reply = await preflight(CONSOLE);
    expect(reply.status).toBeLessThan(300);
    expect(reply.headers['access-control-allow-origin']).toBe(CONSOLE);
    expect(reply.headers['access-control-allow-methods']).toContain('PUT');
    expect(reply.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');
  });

  it('lets the console origin read answers and errors', async () => {
    const { access_token } = await login('admin', ADMIN_PASSWORD);
    const replies = [
      await http('GET', '/users/alice', { token: access_token, headers: { origin: CONSOLE } }),
      await http('GET', '/users/alice', { headers: { origin: CONSOLE } }),
    ];
    expect(replies.map((reply) => reply.status)).toEqual([200, 401]);
    for (const reply of replies) {
      expect(reply.headers['access-control-allow-origin']).toBe(CONSOLE);
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('never names another origin', async () => {
    const { access_token } = await login('admin', ADMIN_PASSWORD);
    const replies = [
      await preflight(STRANGER),
      await http('GET', '/users/alice', { token: access_token, headers: { origin: STRANGER } }),
      await http('GET', '/users/alice', { headers: { origin: STRANGER } }),
      await http('GET', '/health', { headers: { origin: STRANGER } }),
    ];
    for (const reply of replies) expect(reply.headers['access-control-allow-origin']).not.toBe(STRANGER);
  });
});
