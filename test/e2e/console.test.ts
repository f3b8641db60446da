// A replay of what Keyper's web console does in a session, over HTTP, with the console's own
// parsing: the token payload decoded with plain atob (not base64url), the role read out of the
// `user_claims` string, arrays from reads and writes, delete replies split on ':'.
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, groupDN, http, uniqueName } from '../helpers.js';

interface ConsoleUser {
  access_token: string;
  refresh_token: string;
  cn: string;
  memberOfs?: string[];
}

/** Exactly the console's decoding (keyper-fe _helpers/jwt.js). */
const decodePayload = (jwt: string): Record<string, unknown> => JSON.parse(atob(jwt.split('.')[1]!)) as Record<string, unknown>;
const roleOf = (payload: Record<string, unknown>): string => String(payload.user_claims).split(':')[1]!.replaceAll('}', '').trim();

const cleanup: string[] = [];
let adminToken = '';

afterAll(async () => {
  for (const cn of cleanup) await http('DELETE', `/users/${cn}`, { token: adminToken });
});

describe("Keyper's web console session", () => {
  it('logs in, loads, creates, refreshes, deletes, and a user sees keyper_user', async () => {
    // Login: the whole answer is kept as the console's `user`.
    const loginReply = await http('POST', '/login', { json: { username: 'admin', password: ADMIN_PASSWORD } });
    expect(loginReply.status).toBe(200);
    const user = loginReply.body as ConsoleUser;
    adminToken = user.access_token;
    expect(user.cn).toBe('admin');
    const payload = decodePayload(user.access_token);
    expect(typeof payload.exp).toBe('number');
    expect(Date.now()).toBeLessThan((payload.exp as number) * 1000);
    expect(payload).toMatchObject({ identity: 'admin', type: 'access', user_claims: '{role: keyper_admin}' });
    expect(roleOf(payload)).toBe('keyper_admin');
    expect(decodePayload(user.refresh_token)).toMatchObject({ identity: 'admin', type: 'refresh', user_claims: '{role: keyper_admin}' });

    // The users page loads all three lists on every visit.
    const [users, groups, hosts] = await Promise.all([
      http('GET', '/users', { token: adminToken }),
      http('GET', '/groups', { token: adminToken }),
      http('GET', '/hosts', { token: adminToken }),
    ]);
    for (const reply of [users, groups, hosts]) {
      expect(reply.status).toBe(200);
      expect(Array.isArray(reply.body)).toBe(true);
      for (const item of reply.body as { dn: string; cn: string }[]) {
        expect(item.dn.split(',')[0]!.split('=')[1]).toBe(item.cn);
      }
    }
    for (const group of groups.body as { members: string[] }[]) expect(Array.isArray(group.members)).toBe(true);

    // AddUserForm: duration as a string, principal, a host group in memberOfs, no keys yet.
    const cn = uniqueName('console');
    cleanup.push(cn);
    const created = await http('POST', '/users', {
      token: adminToken,
      json: {
        cn, mail: `${cn}@example.org`, givenName: 'Console', sn: 'User', displayName: 'Console User', principal: [cn],
        userPassword: 'console-pass', confirmPassword: 'console-pass', memberOfs: [groupDN('web1')], sshPublicKeys: [], duration: '30', durationUnit: 'Days',
      },
    });
    expect(created.status, created.text).toBe(201);
    const [createdUser] = created.body as [{ cn: string; duration: number; memberOfs: string[]; principal: string[] }];
    expect(createdUser).toMatchObject({ cn, duration: 30, durationUnit: 'Days', memberOfs: [groupDN('web1')], principal: [cn] });

    // EditUserForm sends only the changed fields, duration as a string again.
    const edited = await http('PUT', `/users/${cn}`, { token: adminToken, json: { duration: '45', durationUnit: 'Hours' } });
    expect(edited.status).toBeGreaterThanOrEqual(200);
    expect(edited.status).toBeLessThan(300);
    expect((edited.body as [{ duration: number; durationUnit: string }])[0]).toMatchObject({ duration: 45, durationUnit: 'Hours' });

    // Refresh with a body of {} and use the new token.
    const refreshed = await http('POST', '/refresh', { token: user.refresh_token, json: {} });
    expect(refreshed.status).toBe(200);
    const { access_token } = refreshed.body as { access_token: string };
    expect(roleOf(decodePayload(access_token))).toBe('keyper_admin');
    expect((await http('GET', '/users', { token: access_token })).status).toBe(200);

    // Delete: the console splits the JSON string on ':'.
    const deleted = await http('DELETE', `/users/${cn}`, { token: access_token });
    expect(deleted.status).toBe(200);
    expect((deleted.body as string).split(':')[1]!.trim()).toBe(cn);
    cleanup.pop();

    // Errors are shown from `msg`.
    const missing = await http('GET', `/users/${cn}`, { token: access_token });
    expect(typeof (missing.body as { msg: string }).msg).toBe('string');

    // A non-admin logs in and the console shows the user menus.
    const alice = (await http('POST', '/login', { json: { username: 'alice', password: 'alice-demo' } })).body as ConsoleUser;
    expect(roleOf(decodePayload(alice.access_token))).toBe('keyper_user');
    expect((await http('GET', `/users/${alice.cn}`, { token: alice.access_token })).status).toBe(200);
  });
});
