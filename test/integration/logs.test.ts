// Log lines of one request carry the same request id and the caller's source address, so that a
// failed login or a refused host credential can be traced to the request line and to its origin.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as login } from '../../functions/auth/login.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as authkeys } from '../../functions/public/authkeys.js';
import { addHost, deleteEntries } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiEvent, groupDN, hostDN, lambdaContext, tokenOf, uniqueName, type EventInput } from '../helpers.js';
import { captureLinesAt } from '../log-lines.js';

const host = uniqueName('loghost');
const lines = captureLinesAt('info');

/** Invokes a handler from `sourceIp` and answers the log lines it wrote. */
const linesOf = async (handler: typeof login, input: EventInput, sourceIp: string): Promise<Record<string, unknown>[]> => {
  lines.length = 0;
  const event = apiEvent(input);
  event.requestContext.http.sourceIp = sourceIp;
  await handler(event, lambdaContext());
  return lines;
};

beforeAll(async () => {
  await addHost(host);
  const admin = await tokenOf('admin', ADMIN_PASSWORD);
  const reply = await updateHost(apiEvent({ method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name: host }, token: admin, json: { rotateCredential: true } }), lambdaContext());
  expect(reply.statusCode).toBe(200);
});

afterAll(async () => {
  await deleteEntries([groupDN(host), hostDN(host)]);
});

describe('every line of a request', () => {
  it.each([
    ['a failed login', login, { method: 'POST', route: '/api/login', json: { username: 'nosuchuser', password: 'wrong-password' } }, 'Login failed'],
    ['a refused host credential', authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'alice', host } }, 'host credential missing or wrong'],
  ] as const)('%s: the same request id as the request line, and the source address', async (_, handler, input, msg) => {
    const written = await linesOf(handler, input, '203.0.113.7');
    const request = written.find((line) => line.message === 'request');
    const event = written.find((line) => line.message === msg);
    expect(request).toBeDefined();
    expect(event).toBeDefined();
    expect(typeof request!.requestId).toBe('string');
    expect(event).toMatchObject({ requestId: request!.requestId, sourceIp: '203.0.113.7' });
    expect(request).toMatchObject({ sourceIp: '203.0.113.7' });
  });
});

describe('what a failed login logs', () => {
  it.each([
    ['a name no account has', 'Tr0ub4dor-and-3'],
    ['a name that is no login name', 'Tr0ub4dor & 3!'],
  ])('leaves out %s: it may be a password typed into the name field', async (_, username) => {
    const written = await linesOf(login, { method: 'POST', route: '/api/login', json: { username, password: 'whatever-it-is' } }, '203.0.113.8');
    expect(written.some((line) => line.message === 'Login failed')).toBe(true);
    expect(JSON.stringify(written)).not.toContain(username);
  });

  it('names an existing account whose password was wrong', async () => {
    const written = await linesOf(login, { method: 'POST', route: '/api/login', json: { username: 'bob', password: 'not-bobs-password' } }, '203.0.113.9');
    expect(written.find((line) => line.message === 'Login failed')).toMatchObject({ username: 'bob', reason: 'wrong password' });
  });

  it('never logs the event, even when POWERTOOLS_LOGGER_LOG_EVENT asks Powertools to', async () => {
    vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', 'true');
    vi.resetModules();
    try {
      // A fresh module graph: Powertools reads the variable when its Logger is made.
      const fresh = (await import('../../functions/auth/login.js')).handler;
      const password = `secret-${uniqueName('pw')}`;
      const written = await linesOf(fresh, { method: 'POST', route: '/api/login', json: { username: 'bob', password } }, '203.0.113.10');
      expect(written.some((line) => line.message === 'request')).toBe(true);
      expect(JSON.stringify(written)).not.toContain(password);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
