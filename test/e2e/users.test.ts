// The users API over HTTP through serverless-offline: the CRUD cycle with every status, and
// hostile names and bodies, each a 4xx with a JSON msg that leaves the directory as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import type { UserJson } from '../../lib/users.js';
import { ADMIN_PASSWORD, apiUrl, groupDN, http, login, snapshot, uniqueName, userDN } from '../helpers.js';

let token = '';

const body = (cn: string, extra: Record<string, unknown> = {}) => ({
  cn, userPassword: 'e2e-password', confirmPassword: 'e2e-password', givenName: 'End', sn: 'ToEnd', duration: 3, durationUnit: 'Weeks', ...extra,
});

beforeAll(async () => {
  token = (await login('admin', ADMIN_PASSWORD)).access_token;
});

describe('users over HTTP', () => {
  it('create → get → update (groups, lock) → delete, with the statuses of the contract', async () => {
    const cn = uniqueName('e2e');
    const created = await http('POST', '/users', { token, json: body(cn, { memberOfs: [groupDN('demo_servers')] }) });
    expect(created.status, created.text).toBe(201);
    expect(created.headers['content-type']).toMatch(/application\/json/);
    expect((created.body as UserJson[])[0]).toMatchObject({ dn: userDN(cn), cn, memberOfs: [groupDN('demo_servers')], duration: 3, durationUnit: 'Weeks' });
    expect((await http('POST', '/users', { token, json: body(cn) })).status).toBe(409);

    const got = await http('GET', `/users/${cn}`, { token });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const moved = await http('PUT', `/users/${cn}`, { token, json: { memberOfs: [groupDN('web2')], accountLocked: true } });
    expect(moved.status, moved.text).toBe(200);
    expect((moved.body as UserJson[])[0]).toMatchObject({ memberOfs: [groupDN('web2')], accountLocked: true });
    expect((await http('PUT', `/users/${cn}`, { token, json: { accountLocked: false } })).status).toBe(200);

    const list = await http('GET', '/users', { token });
    expect((list.body as UserJson[]).map((u) => u.cn)).toEqual(expect.arrayContaining(['admin', 'alice', 'bob', cn]));

    const deleted = await http('DELETE', `/users/${cn}`, { token });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toBe(`Deleted User: ${cn}`);
    expect((await http('GET', `/users/${cn}`, { token })).status).toBe(404);
    expect((await http('DELETE', `/users/${cn}`, { token })).status).toBe(404);
    expect((await http('DELETE', '/users/admin', { token })).status).toBe(403);
  });

  it.each(['*', 'alice)(cn=*', 'a,ou=people', '\\', 'a\u0000b', 'x'.repeat(300), 'alice%00'])(
    'the path name %j is a 4xx with a JSON msg and changes nothing',
    async (name) => {
      const before = await snapshot();
      const path = `/users/${encodeURIComponent(name)}`;
      for (const [method, json] of [['GET', undefined], ['PUT', { sn: 'x' }], ['DELETE', undefined]] as const) {
        const reply = await http(method, path, { token, ...(json === undefined ? {} : { json }) });
        expect(reply.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(reply.status, `${method} ${path}`).toBeLessThan(500);
        if (reply.headers['content-type']?.includes('json')) expect(reply.body).toHaveProperty('msg');
      }
      expect(await snapshot()).toBe(before);
    },
  );

  it('hostile bodies are 4xx with a JSON msg and change nothing', async () => {
    const before = await snapshot();
    const cases: [string, { json?: unknown; body?: string; headers?: Record<string, string> }, number][] = [
      ['cn with filter syntax', { json: body('alice)(cn=*') }, 400],
      ['cn with a NUL', { json: body('a\u0000b') }, 400],
      ['300-character sn', { json: body(uniqueName('h'), { sn: 'x'.repeat(300) }) }, 400],
      ['__proto__ key', { body: `{"__proto__": {"admin": true}, "cn": "${uniqueName('p')}"}`, headers: { 'content-type': 'application/json' } }, 400],
      ['not JSON', { body: '{"cn": "x"', headers: { 'content-type': 'application/json' } }, 400],
      ['JSON content type, no body', { headers: { 'content-type': 'application/json' } }, 400],
      ['a form body', { body: 'cn=x&sn=y', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
      ['no content type', { body: '{}' }, 415],
      ['a JSON array', { json: [body(uniqueName('arr'))] }, 400],
      // serverless-offline hands a JSON string body over already decoded (API Gateway would not),
      // so the parser sees `alice` and answers 415; either way it is refused.
      ['a JSON string', { json: 'alice' }, 0],
    ];
    for (const [what, options, status] of cases) {
      const reply = await http('POST', '/users', { token, ...options });
      if (status === 0) expect([400, 415], what).toContain(reply.status);
      else expect(reply.status, what).toBe(status);
      expect(reply.body, what).toHaveProperty('msg');
    }
    expect(await snapshot()).toBe(before);
  });

  it('invalid UTF-8 is a 400 naming the field, never stored as U+FFFD', async () => {
    const before = await snapshot();
    const bytes = Buffer.concat([Buffer.from(JSON.stringify(body(uniqueName('utf'))).replace(/}$/, ', "displayName": "Bad')), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const response = await fetch(`${apiUrl()}/users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: bytes });
    const reply = (await response.json()) as { msg: string; errors?: Record<string, string> };
    expect(response.status, JSON.stringify(reply)).toBe(400);
    expect(reply.errors).toHaveProperty('displayName');
    expect(await snapshot()).toBe(before);
  });
});
