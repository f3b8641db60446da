// Request bodies as API Gateway may deliver them: base64-encoded (`isBase64Encoded: true`), JSON
// and form alike, are read as the plain ones; a malformed one is refused without a change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as authkeys } from '../../functions/public/authkeys.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as updateUser } from '../../functions/users/update.js';
import type { UserJson } from '../../lib/users.js';
import { ADMIN_PASSWORD, groupDN, invoke, snapshot, tokenOf, uniqueName } from '../helpers.js';

let admin: string;
const created: string[] = [];
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
});

describe('base64-encoded bodies', () => {
  it('a JSON body creates and updates a user as the plain body does, If-Match included', async () => {
    const cn = uniqueName('b64');
    const made = await invoke(createUser, {
      method: 'POST', route: '/api/users', token: admin, base64: true,
      json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Base', sn: 'Sixtyfour', duration: 1, durationUnit: 'Days', memberOfs: [groupDN('demo_servers')] },
    });
    expect(made.status, made.text).toBe(201);
    created.push(cn);
    expect((made.body as UserJson[])[0]).toMatchObject({ cn, sn: 'Sixtyfour', memberOfs: [groupDN('demo_servers')] });
    const tag = (await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin })).headers.etag!;
    const put = (sn: string) =>
      invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin, base64: true, json: { sn }, headers: { 'If-Match': tag } });
    const updated = await put('Encoded');
    expect(updated.status, updated.text).toBe(200);
    expect((updated.body as UserJson[])[0]!.sn).toBe('Encoded');
    expect((await put('Stale')).status).toBe(412);
  });

  it('a form body asks /authkeys as the plain one does', async () => {
    const ask = (base64: boolean) =>
      invoke(authkeys, {
        method: 'POST', route: '/api/authkeys', base64,
        body: 'username=alice&host=web1', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const [plain, encoded] = [await ask(false), await ask(true)];
    expect(plain.status, plain.text).toBe(200);
    expect(encoded.status, encoded.text).toBe(200);
    expect(encoded.text).toBe(plain.text);
    expect(encoded.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('malformed JSON, base64-encoded, is a 400 that changes nothing', async () => {
    const before = await snapshot();
    const reply = await invoke(createUser, {
      method: 'POST', route: '/api/users', token: admin, base64: true, body: '{"cn": "x",', headers: { 'content-type': 'application/json' },
    });
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toHaveProperty('msg');
    expect(await snapshot()).toBe(before);
  });
});
