// Sessions end to end over HTTP: tokens belong to one account instance, a password change ends the
// user's other sessions, logout everywhere, and the optional current-password check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, http, login, uniqueName, type Reply, type Tokens } from '../helpers.js';

const PASSWORD = 'session-test-password';
const NEW_PASSWORD = 'session-new-password';
let admin: Tokens;
const created = new Set<string>();

const userBody = (cn: string) => ({
  cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Session', sn: 'Test', duration: 1, durationUnit: 'Days',
});

const createUser = async (cn = uniqueName('sess')): Promise<string> => {
  const reply = await http('POST', '/users', { token: admin.access_token, json: userBody(cn) });
  expect(reply.status, reply.text).toBe(201);
  created.add(cn);
  return cn;
};

/** Status of a request with the access token, and of a refresh with the refresh token. */
const statuses = async (tokens: Tokens, cn: string): Promise<[number, number]> => [
  (await http('GET', `/users/${cn}`, { token: tokens.access_token })).status,
  (await http('POST', '/refresh', { token: tokens.refresh_token, json: {} })).status,
];

const changePassword = (cn: string, token: string, extra: Record<string, unknown> = {}): Promise<Reply> =>
  http('PUT', `/users/${cn}`, { token, json: { userPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, ...extra } });

beforeAll(async () => {
  admin = await login('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const cn of created) await http('DELETE', `/users/${cn}`, { token: admin.access_token });
});

describe('tokens belong to one account instance', () => {
  it('a deleted and re-created user gets none of the old tokens back, logged-out ones included', async () => {
    const cn = await createUser();
    const live = await login(cn, PASSWORD);
    const loggedOut = await login(cn, PASSWORD);
    expect((await http('DELETE', '/logout', { token: loggedOut.access_token })).status).toBe(200);
    expect(await statuses(live, cn)).toEqual([200, 200]);

    expect((await http('DELETE', `/users/${cn}`, { token: admin.access_token })).status).toBe(200);
    await createUser(cn);
    for (const tokens of [live, loggedOut]) expect(await statuses(tokens, cn)).toEqual([401, 401]);
    // The new account's own sessions work.
    expect(await statuses(await login(cn, PASSWORD), cn)).toEqual([200, 200]);
  });

  it('the token carries the account in a claim the console can decode with atob', async () => {
    const cn = await createUser();
    const { access_token } = await login(cn, PASSWORD);
    const payload = JSON.parse(atob(access_token.split('.')[1]!)) as Record<string, unknown>;
    expect(payload.account).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('a password change ends the other sessions', () => {
  it('by the user: other sessions end at once, the one that made the change keeps working', async () => {
    const cn = await createUser();
    const current = await login(cn, PASSWORD);
    const other = await login(cn, PASSWORD);
    const reply = await changePassword(cn, current.access_token);
    expect(reply.status, reply.text).toBe(200);
    expect(await statuses(other, cn)).toEqual([401, 401]);
    expect(await statuses(current, cn)).toEqual([200, 200]);
    // A login in the same second as the change is a new session, and it works.
    expect(await statuses(await login(cn, NEW_PASSWORD), cn)).toEqual([200, 200]);
    expect((await http('POST', '/login', { json: { username: cn, password: PASSWORD } })).status).toBe(401);
  });

  it('by an administrator: every session of the user ends, the administrator\'s does not', async () => {
    const cn = await createUser();
    const first = await login(cn, PASSWORD);
    const second = await login(cn, PASSWORD);
    expect((await changePassword(cn, admin.access_token)).status).toBe(200);
    expect(await statuses(first, cn)).toEqual([401, 401]);
    expect(await statuses(second, cn)).toEqual([401, 401]);
    expect((await http('GET', '/users', { token: admin.access_token })).status).toBe(200);
    expect(await statuses(await login(cn, NEW_PASSWORD), cn)).toEqual([200, 200]);
  });

  it('a change without userPassword ends nothing', async () => {
    const cn = await createUser();
    const current = await login(cn, PASSWORD);
    const other = await login(cn, PASSWORD);
    expect((await http('PUT', `/users/${cn}`, { token: current.access_token, json: { mail: 'x@example.org' } })).status).toBe(200);
    expect(await statuses(other, cn)).toEqual([200, 200]);
  });

  it('no login with the old password racing the change survives it (20 trials)', async () => {
    const cn = await createUser();
    let password = PASSWORD;
    for (let trial = 0; trial < 20; trial += 1) {
      const next = `${PASSWORD}-${trial}`;
      const changer = await login(cn, password);
      const [raced, change] = await Promise.all([
        http('POST', '/login', { json: { username: cn, password } }),
        http('PUT', `/users/${cn}`, { token: changer.access_token, json: { userPassword: next, confirmPassword: next } }),
      ]);
      expect(change.status, change.text).toBe(200);
      if (raced.status === 200) {
        const tokens = raced.body as Tokens;
        expect(await statuses(tokens, cn), `trial ${trial}`).toEqual([401, 401]);
      } else {
        expect(raced.status).toBe(401);
      }
      password = next;
    }
  });
});

describe('current password', () => {
  it('when sent, a wrong one is a 400 naming currentPassword and changes nothing', async () => {
    const cn = await createUser();
    const current = await login(cn, PASSWORD);
    const other = await login(cn, PASSWORD);
    for (const currentPassword of ['not-the-password', '', '   ']) {
      const reply = await changePassword(cn, current.access_token, { currentPassword });
      expect(reply.status, reply.text).toBe(400);
      expect(reply.body).toMatchObject({ errors: { currentPassword: expect.any(String) } });
    }
    expect(await statuses(other, cn)).toEqual([200, 200]);
    expect((await http('POST', '/login', { json: { username: cn, password: NEW_PASSWORD } })).status).toBe(401);
    expect((await http('POST', '/login', { json: { username: cn, password: PASSWORD } })).status).toBe(200);
  });

  it('when right, the change is made', async () => {
    const cn = await createUser();
    const current = await login(cn, PASSWORD);
    const reply = await changePassword(cn, current.access_token, { currentPassword: PASSWORD });
    expect(reply.status, reply.text).toBe(200);
    expect((await http('POST', '/login', { json: { username: cn, password: NEW_PASSWORD } })).status).toBe(200);
  });
});

describe('logout everywhere', () => {
  it('ends every session of the caller, the calling one included, and no one else\'s', async () => {
    const cn = await createUser();
    const bystander = await createUser();
    const first = await login(cn, PASSWORD);
    const second = await login(cn, PASSWORD);
    const theirs = await login(bystander, PASSWORD);
    const reply = await http('DELETE', '/logout?everywhere=true', { token: first.access_token });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toHaveProperty('msg');
    expect(await statuses(first, cn)).toEqual([401, 401]);
    expect(await statuses(second, cn)).toEqual([401, 401]);
    expect(await statuses(theirs, bystander)).toEqual([200, 200]);
    // Logging in again, in the same second, works.
    expect(await statuses(await login(cn, PASSWORD), cn)).toEqual([200, 200]);
  });

  it('everywhere=false ends only the calling session; any other value is a 400', async () => {
    const cn = await createUser();
    const first = await login(cn, PASSWORD);
    const second = await login(cn, PASSWORD);
    const bad = await http('DELETE', '/logout?everywhere=yes', { token: first.access_token });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ errors: { everywhere: expect.any(String) } });
    expect(await statuses(first, cn)).toEqual([200, 200]);
    expect((await http('DELETE', '/logout?everywhere=false', { token: first.access_token })).status).toBe(200);
    expect(await statuses(first, cn)).toEqual([401, 401]);
    expect(await statuses(second, cn)).toEqual([200, 200]);
  });
});
