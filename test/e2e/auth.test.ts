// Authentication end to end over HTTP (serverless-offline → handlers → slapd): login, lockout,
// logout, lock, deletion and demotion, each effective on the very next request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, groupDN, http, login, snapshot, uniqueName, userDN, withManager, type Tokens } from '../helpers.js';

const PASSWORD = 'auth-test-password';
let admin: Tokens;
const created: string[] = [];

const createUser = async (memberOfs: string[] = []): Promise<string> => {
  const cn = uniqueName('auth');
  const reply = await http('POST', '/users', {
    token: admin.access_token,
    json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Auth', sn: 'Test', duration: 1, durationUnit: 'Days', memberOfs },
  });
  expect(reply.status, reply.text).toBe(201);
  created.push(cn);
  return cn;
};

const tryLogin = (username: string, password: string) => http('POST', '/login', { json: { username, password } });

const failureCount = async (cn: string): Promise<number> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(userDN(cn), { scope: 'base', attributes: ['pwdFailureTime'] });
    const value = searchEntries[0]?.pwdFailureTime;
    return value === undefined ? 0 : [value].flat().length;
  });

beforeAll(async () => {
  admin = await login('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const cn of created) await http('DELETE', `/users/${cn}`, { token: admin.access_token });
});

describe('login', () => {
  it('returns the user object with an access and a refresh token', async () => {
    const reply = await tryLogin('alice', 'alice-demo');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ cn: 'alice', dn: userDN('alice'), memberOfs: [groupDN('demo_servers')] });
    const body = reply.body as Tokens & Record<string, unknown>;
    expect(body.access_token.split('.')).toHaveLength(3);
    expect(body.refresh_token.split('.')).toHaveLength(3);
    expect(body).not.toHaveProperty('userPassword');
  });

  it('answers the same 401 to an unknown user and a wrong password', async () => {
    const unknown = await tryLogin('nosuchuser', 'whatever-password');
    const wrong = await tryLogin('bob', 'not-bobs-password');
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.body).toEqual({ msg: 'Bad username or password' });
  });

  it.each(['', ' ', '\t \n'])('refuses the empty or blank password %j before any bind', async (password) => {
    const cn = await createUser();
    const reply = await tryLogin(cn, password);
    expect(reply.status).toBe(401);
    // No bind happened: the password policy recorded no failure.
    expect(await failureCount(cn)).toBe(0);
  });

  it.each(['*', 'alice)(cn=*', 'cn=admin,ou=people,dc=keyper,dc=example,dc=org', 'admin\\', 'a\u0000', 'ALICE', '*)(|(cn=*'])(
    'refuses the username %j with LDAP metacharacters without changing anything',
    async (username) => {
      const before = await snapshot();
      const reply = await tryLogin(username, 'alice-demo');
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ msg: 'Bad username or password' });
      expect(await snapshot()).toBe(before);
    },
  );

  it('validates input: both fields required, at most 100 characters', async () => {
    expect((await http('POST', '/login', { json: { username: 'alice' } })).status).toBe(400);
    expect((await http('POST', '/login', { json: { password: 'x' } })).status).toBe(400);
    expect((await http('POST', '/login', { json: { username: 'a'.repeat(101), password: 'x' } })).status).toBe(400);
    expect((await http('POST', '/login', { body: 'username=alice', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
  });

  it('locks the account after 5 failed logins, and says so', async () => {
    const cn = await createUser();
    for (let i = 0; i < 5; i += 1) expect((await tryLogin(cn, 'wrong-password')).status).toBe(401);
    const reply = await tryLogin(cn, PASSWORD);
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ msg: 'Account is locked' });
    const user = await http('GET', `/users/${cn}`, { token: admin.access_token });
    expect((user.body as [{ accountLocked: boolean }])[0].accountLocked).toBe(true);
    // An administrator unlocks it, and the right password works again.
    expect((await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { accountLocked: false } })).status).toBe(200);
    expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
  });
});

describe('sessions', () => {
  it('refresh returns a working access token, with a body of {} or none', async () => {
    const cn = await createUser();
    const tokens = await login(cn, PASSWORD);
    for (const options of [{ json: {} }, {}]) {
      const reply = await http('POST', '/refresh', { token: tokens.refresh_token, ...options });
      expect(reply.status, reply.text).toBe(200);
      const { access_token } = reply.body as { access_token: string };
      expect((await http('GET', '/check_jwt_token', { token: access_token })).body).toEqual({ msg: 'Token Valid' });
    }
  });

  it('logout revokes the access and the refresh token of that session at once', async () => {
    const cn = await createUser();
    const tokens = await login(cn, PASSWORD);
    const other = await login(cn, PASSWORD);
    const out = await http('DELETE', '/logout', { token: tokens.access_token });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ msg: 'Successfully logged out' });
    const reuse = await http('GET', `/users/${cn}`, { token: tokens.access_token });
    expect(reuse.status).toBe(401);
    expect(reuse.body).toEqual({ msg: 'Token has been revoked' });
    expect((await http('POST', '/refresh', { token: tokens.refresh_token })).status).toBe(401);
    // Another session of the same user is not affected, and logging in again works.
    expect((await http('GET', `/users/${cn}`, { token: other.access_token })).status).toBe(200);
    const again = await login(cn, PASSWORD);
    expect((await http('GET', `/users/${cn}`, { token: again.access_token })).status).toBe(200);
  });

  it('a lock by an administrator stops the user\'s tokens on the next request', async () => {
    const cn = await createUser();
    const tokens = await login(cn, PASSWORD);
    expect((await http('GET', `/users/${cn}`, { token: tokens.access_token })).status).toBe(200);
    expect((await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { accountLocked: true } })).status).toBe(200);
    const reply = await http('GET', `/users/${cn}`, { token: tokens.access_token });
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({ msg: 'Account is locked' });
    expect((await http('POST', '/refresh', { token: tokens.refresh_token })).status).toBe(401);
    expect((await tryLogin(cn, PASSWORD)).body).toEqual({ msg: 'Account is locked' });
  });

  it('a deleted user\'s tokens stop working', async () => {
    const cn = await createUser();
    const tokens = await login(cn, PASSWORD);
    expect((await http('DELETE', `/users/${cn}`, { token: admin.access_token })).status).toBe(200);
    expect((await http('GET', `/users/${cn}`, { token: tokens.access_token })).status).toBe(401);
    expect((await http('POST', '/refresh', { token: tokens.refresh_token })).status).toBe(401);
  });
});

describe('roles', () => {
  it('a user reads and edits only their own record, and not their groups', async () => {
    const alice = await login('alice', 'alice-demo');
    expect((await http('GET', '/users', { token: alice.access_token })).status).toBe(403);
    expect((await http('GET', '/users/bob', { token: alice.access_token })).body).toEqual({ msg: 'Not Authorized to Access this resource' });
    expect((await http('GET', '/users/alice', { token: alice.access_token })).status).toBe(200);
    const mail = await http('PUT', '/users/alice', { token: alice.access_token, json: { mail: 'alice@wonderland.example.org' } });
    expect(mail.status, mail.text).toBe(200);
    expect((mail.body as [{ mail: string }])[0].mail).toBe('alice@wonderland.example.org');
    const before = await snapshot();
    for (const json of [{ memberOfs: [] }, { accountLocked: true }, { principal: ['root'] }, { duration: 9 }, { memberOfs: [groupDN('KeyperAdmins')] }]) {
      expect((await http('PUT', '/users/alice', { token: alice.access_token, json })).status, JSON.stringify(json)).toBe(403);
    }
    expect((await http('PUT', '/users/bob', { token: alice.access_token, json: { mail: 'x@example.org' } })).status).toBe(403);
    // Authorization runs before validation: a malformed admin request is still a 403 for her.
    expect((await http('POST', '/users', { token: alice.access_token, json: { cn: '*' } })).status).toBe(403);
    expect(await snapshot()).toBe(before);
    await http('PUT', '/users/alice', { token: admin.access_token, json: { mail: 'alice@keyper.example.org' } });
  });

  it('promotion and demotion take effect on the next request', async () => {
    const cn = await createUser([groupDN('KeyperAdmins')]);
    const tokens = await login(cn, PASSWORD);
    expect((await http('GET', '/users', { token: tokens.access_token })).status).toBe(200);
    const demote = await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { memberOfs: [] } });
    expect(demote.status, demote.text).toBe(200);
    expect((await http('GET', '/users', { token: tokens.access_token })).status).toBe(403);
    expect((await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { memberOfs: [groupDN('KeyperAdmins')] } })).status).toBe(200);
    expect((await http('GET', '/users', { token: tokens.access_token })).status).toBe(200);
    expect((await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { memberOfs: [] } })).status).toBe(200);
  });

  it('KeyperAdmins cannot lose its last user member', async () => {
    const before = await snapshot();
    const reply = await http('PUT', '/users/admin', { token: admin.access_token, json: { memberOfs: [] } });
    expect(reply.status).toBe(400);
    expect(await snapshot()).toBe(before);
  });
});
