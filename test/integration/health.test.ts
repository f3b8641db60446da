// GET /api/health, invoked as Lambda would: 200 {"status":"ok"} while the directory accepts the
// service account's bind; 503 with nothing but the usual error body when it is down or refuses
// the bind (a monitor must not learn why, only that the service cannot work).
import { afterEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/public/health.js';
import { reloadConfig } from '../../lib/config.js';
import { freePort } from '../../scripts/ports.js';
import { http, invoke } from '../helpers.js';

const saved = { ...process.env };
const route = { method: 'GET', route: '/api/health' };

afterEach(() => {
  Object.assign(process.env, { LDAP_URL: saved.LDAP_URL, LDAP_BIND_PASSWORD: saved.LDAP_BIND_PASSWORD });
  reloadConfig();
});

describe('GET /api/health', () => {
  it('answers 200 {"status":"ok"} without a token while the directory answers a bind', async () => {
    const reply = await invoke(handler, route);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.body).toEqual({ status: 'ok' });
  });

  it('answers the same over HTTP', async () => {
    const reply = await http('GET', '/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ status: 'ok' });
  });

  it('answers 503 and no details when nothing listens at the directory address', async () => {
    process.env.LDAP_URL = `ldap://127.0.0.1:${await freePort()}`;
    reloadConfig();
    const reply = await invoke(handler, route);
    expect(reply.status).toBe(503);
    expect(reply.body).toEqual({ msg: 'Directory unavailable' });
  });

  it('answers 503, not 500, when the directory refuses the service account', async () => {
    process.env.LDAP_BIND_PASSWORD = 'not-the-service-password';
    reloadConfig();
    const reply = await invoke(handler, route);
    expect(reply.status).toBe(503);
    expect(reply.body).toEqual({ msg: 'Directory unavailable' });
  });
});
