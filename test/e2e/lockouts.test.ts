// Lockouts end to end: strangers who fail logins lock a password for the lockout duration only,
// never the account's SSH keys or sessions, and never the protected `admin`; an administrator's
// lock (through this API, or Keyper's, written here with ldapmodify as the directory manager)
// refuses all three until it is lifted. Locks by failed logins come from real failed binds; to
// avoid waiting 15 minutes, their timestamps are then moved back as the directory manager.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Attribute, Change, Control } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { addHost, authkeys, deleteEntries } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, baseDN, directoryUrl, env, groupDN, hostDN, http, invoke, login, uniqueName, userDN, withManager, type Tokens } from '../helpers.js';
import { captureLines } from '../log-lines.js';

const PASSWORD = 'lockout-test-password';
const LOCKOUT_SECONDS = 900;
const RELAX_RULES = new Control('1.3.6.1.4.1.4203.666.5.12', { critical: true });
const host = uniqueName('lockhost');
const permanentPolicy = `cn=${uniqueName('permanent')},ou=policies,${baseDN()}`;
let admin: Tokens;
const created: string[] = [];
const keys = new Map<string, string>();

const createUser = async (memberOfs: string[] = [groupDN(host)]): Promise<string> => {
  const cn = uniqueName('lock');
  const line = ed25519Line(`${cn}@laptop`);
  const reply = await http('POST', '/users', {
    token: admin.access_token,
    json: {
      cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Lock', sn: 'Test', duration: 1, durationUnit: 'Days', memberOfs,
      sshPublicKeys: [{ name: 'laptop', key: line, fingerprint: parsePublicKey(line).fingerprint, hostGroups: [groupDN(host)] }],
    },
  });
  expect(reply.status, reply.text).toBe(201);
  created.push(cn);
  keys.set(cn, `${line}\n`);
  return cn;
};

const tryLogin = (username: string, password: string) => http('POST', '/login', { json: { username, password } });
const failLogins = async (cn: string, times: number): Promise<void> => {
  for (let i = 0; i < times; i += 1) expect((await tryLogin(cn, 'wrong-password')).status).toBe(401);
};
const keysOf = async (cn: string): Promise<string> => (await authkeys({ username: cn, host })).text;
const userJson = async (cn: string): Promise<Record<string, unknown>> =>
  ((await http('GET', `/users/${cn}`, { token: admin.access_token })).body as [Record<string, unknown>])[0];
const put = async (cn: string, json: unknown): Promise<void> => {
  const reply = await http('PUT', `/users/${cn}`, { token: admin.access_token, json });
  expect(reply.status, reply.text).toBe(200);
};

/** The entry's ppolicy state, as the directory manager reads it. */
const lockAttributes = (cn: string): Promise<{ locked: string | undefined; failures: string[] }> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(userDN(cn), { scope: 'base', attributes: ['pwdAccountLockedTime', 'pwdFailureTime'] });
    // ldapts answers an attribute asked for by name but absent as an empty list.
    const all = (type: string): string[] => [searchEntries[0]?.[type] ?? []].flat().map(String);
    return { locked: all('pwdAccountLockedTime')[0], failures: all('pwdFailureTime') };
  });

/** A generalized time (YYYYMMDDHHMMSS[.ffffff]Z) `seconds` earlier, in the same format. */
const earlier = (time: string, seconds: number): string => {
  const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z$/.exec(time);
  if (match === null) throw new Error(`not a ppolicy time: ${time}`);
  const [, y, mo, d, h, mi, s, fraction = ''] = match.map((part) => part ?? '');
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - seconds * 1000);
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}${fraction}Z`;
};

/** Moves what failed binds wrote `seconds` into the past, as if they had happened then. */
const age = async (cn: string, seconds: number): Promise<void> => {
  const { locked, failures } = await lockAttributes(cn);
  const replace = (type: string, values: string[]) => new Change({ operation: 'replace', modification: new Attribute({ type, values }) });
  await withManager((client) =>
    client.modify(
      userDN(cn),
      [replace('pwdFailureTime', failures.map((t) => earlier(t, seconds))), ...(locked === undefined ? [] : [replace('pwdAccountLockedTime', [earlier(locked, seconds)])])],
      RELAX_RULES,
    ),
  );
};

/** ldapmodify as the directory manager: how an operator, or Keyper, writes to the directory. */
const ldapmodify = async (ldif: string, options: string[] = []): Promise<void> => {
  const { LDAP_BIND_DN, LDAP_BIND_PASSWORD } = env();
  const pending = promisify(execFile)('ldapmodify', ['-x', '-H', directoryUrl(), '-D', LDAP_BIND_DN!, '-w', LDAP_BIND_PASSWORD!, ...options]);
  pending.child.stdin?.end(ldif);
  await pending;
};

beforeAll(async () => {
  admin = await login('admin', ADMIN_PASSWORD);
  await addHost(host);
  // A directory whose policy never ends a lockout (as the local one did): the service must.
  await withManager((client) =>
    client.add(permanentPolicy, {
      objectClass: ['top', 'applicationProcess', 'pwdPolicy'], cn: permanentPolicy.split(',')[0]!.slice(3), pwdAttribute: 'userPassword',
      pwdLockout: 'TRUE', pwdMaxFailure: '5', pwdLockoutDuration: '0', pwdFailureCountInterval: '0',
    }),
  );
});

afterAll(async () => {
  for (const cn of created) await http('DELETE', `/users/${cn}`, { token: admin.access_token });
  // Whatever a failing test did to the protected admin.
  await withManager((client) =>
    client.modify(userDN('admin'), ['pwdAccountLockedTime', 'pwdFailureTime'].map((type) => new Change({ operation: 'replace', modification: new Attribute({ type, values: [] }) })), RELAX_RULES),
  );
  await deleteEntries([permanentPolicy, groupDN(host), hostDN(host)]);
});

describe('a lock that failed logins caused', () => {
  it('locks the password only: SSH keys and open sessions keep working', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await failLogins(cn, 5);
    const { locked, failures } = await lockAttributes(cn);
    expect(locked).toMatch(/^\d{14}Z$/);
    expect(failures).toHaveLength(5);

    const refused = await tryLogin(cn, PASSWORD);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ msg: 'Account is locked' });
    const { retryAfter } = refused.body as { retryAfter: number };
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_SECONDS);

    expect(await keysOf(cn)).toBe(keys.get(cn));
    expect((await http('GET', `/users/${cn}`, { token: session.access_token })).status).toBe(200);
    expect((await http('POST', '/refresh', { token: session.refresh_token })).status).toBe(200);
    expect(await userJson(cn)).toMatchObject({ accountLocked: true, lockReason: 'failures', pwdAccountLockedTime: locked });
  });

  it('locks an administrator out for the lockout duration at most (the directory ends it)', async () => {
    const cn = await createUser([groupDN(host), groupDN('KeyperAdmins')]);
    await failLogins(cn, 5);
    expect((await tryLogin(cn, PASSWORD)).body).toMatchObject({ msg: 'Account is locked' });
    await age(cn, LOCKOUT_SECONDS - 60);
    expect((await tryLogin(cn, PASSWORD)).body).toMatchObject({ msg: 'Account is locked' });
    await age(cn, 61);
    const reply = await tryLogin(cn, PASSWORD);
    expect(reply.status, reply.text).toBe(200);
    expect(await lockAttributes(cn)).toEqual({ locked: undefined, failures: [] });
  });

  it('ends after the lockout duration even where the directory\'s policy never ends it', async () => {
    const cn = await createUser();
    await ldapmodify(`dn: ${userDN(cn)}\nchangetype: modify\nreplace: pwdPolicySubentry\npwdPolicySubentry: ${permanentPolicy}\n`);
    await failLogins(cn, 5);
    await age(cn, LOCKOUT_SECONDS + 1);
    // One more wrong password counts once: it does not lock again at once.
    const wrong = await tryLogin(cn, 'wrong-password');
    expect(wrong.body).toEqual({ msg: 'Bad username or password' });
    expect((await lockAttributes(cn)).failures).toHaveLength(1);
    expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
  });

  it('counts only the failed logins of the last 5 minutes', async () => {
    const cn = await createUser();
    await failLogins(cn, 4);
    await age(cn, 301);
    await failLogins(cn, 1);
    expect((await lockAttributes(cn)).locked).toBeUndefined();
    expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
  });
});

describe('an administrator\'s lock', () => {
  it('through the API refuses logins, sessions and SSH keys, and leaves no failure count behind', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await failLogins(cn, 3);
    await put(cn, { accountLocked: true });
    expect(await lockAttributes(cn)).toEqual({ locked: '000001010000Z', failures: [] });
    expect(await keysOf(cn)).toBe('');
    expect((await http('GET', `/users/${cn}`, { token: session.access_token })).body).toEqual({ msg: 'Account is locked' });
    expect((await tryLogin(cn, PASSWORD)).body).toEqual({ msg: 'Account is locked' });
    expect(await userJson(cn)).toMatchObject({ accountLocked: true, lockReason: 'administrator', pwdAccountLockedTime: '000001010000Z' });
  });

  it('written by Keyper (the time of the lock) refuses them too, also once older than the lockout duration', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await ldapmodify(`dn: ${userDN(cn)}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 20210101120000Z\n`);
    expect(await keysOf(cn)).toBe('');
    expect((await http('GET', `/users/${cn}`, { token: session.access_token })).body).toEqual({ msg: 'Account is locked' });
    expect((await tryLogin(cn, PASSWORD)).body).toEqual({ msg: 'Account is locked' });
    expect((await lockAttributes(cn)).locked).toBe('20210101120000Z');
    expect(await userJson(cn)).toMatchObject({ accountLocked: true, lockReason: 'administrator' });
  });

  it('replaces a lock by failed logins when an administrator ticks accountLocked', async () => {
    const cn = await createUser();
    await failLogins(cn, 5);
    expect(await keysOf(cn)).toBe(keys.get(cn));
    await put(cn, { accountLocked: true });
    expect(await lockAttributes(cn)).toEqual({ locked: '000001010000Z', failures: [] });
    expect(await keysOf(cn)).toBe('');
  });
});

describe('a currentPassword check', () => {
  // It binds as the user, as login does; a bind would end a lock that holds a time once it is
  // older than the directory's pwdLockoutDuration (Keyper's administrator locks included).
  it('never ends a lock Keyper wrote: the check is refused and the lock stays', async () => {
    const cn = await createUser();
    await ldapmodify(`dn: ${userDN(cn)}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 20210101120000Z\n`);
    const reply = await http('PUT', `/users/${cn}`, { token: admin.access_token, json: { currentPassword: PASSWORD, sn: 'Checked' } });
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toMatchObject({ msg: 'Account is locked', errors: { currentPassword: expect.any(String) } });
    expect((await lockAttributes(cn)).locked).toBe('20210101120000Z');
    expect(await keysOf(cn)).toBe('');
    expect(await userJson(cn)).toMatchObject({ sn: 'Test', accountLocked: true, lockReason: 'administrator' });
  });

  it('says that the account is locked while failed logins lock it, not that the password is wrong', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await failLogins(cn, 5);
    const reply = await http('PUT', `/users/${cn}`, { token: session.access_token, json: { currentPassword: PASSWORD, sn: 'Checked' } });
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toMatchObject({ msg: 'Account is locked', retryAfter: expect.any(Number), errors: { currentPassword: expect.any(String) } });
  });

  it('lifts a lock by failed logins that is over, as login does, where the directory never ends it', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await ldapmodify(`dn: ${userDN(cn)}\nchangetype: modify\nreplace: pwdPolicySubentry\npwdPolicySubentry: ${permanentPolicy}\n`);
    await failLogins(cn, 5);
    await age(cn, LOCKOUT_SECONDS + 1);
    const reply = await http('PUT', `/users/${cn}`, { token: session.access_token, json: { currentPassword: PASSWORD, sn: 'Checked' } });
    expect(reply.status, reply.text).toBe(200);
    expect(await lockAttributes(cn)).toEqual({ locked: undefined, failures: [] });
  });
});

describe('races', () => {
  it('an administrator locking while a login lifts an ended lockout: the administrator\'s lock stays (20 trials)', async () => {
    const cn = await createUser();
    // All 20 trials run (a deadline could quietly cut them short); the test timeout bounds them.
    for (let trial = 0; trial < 20; trial += 1) {
      await put(cn, { accountLocked: false });
      await failLogins(cn, 5);
      await age(cn, LOCKOUT_SECONDS + 1);
      const [, login] = await Promise.all([put(cn, { accountLocked: true }), tryLogin(cn, PASSWORD)]);
      expect([200, 401]).toContain(login.status);
      expect(await lockAttributes(cn), `trial ${trial}`).toEqual({ locked: '000001010000Z', failures: [] });
      expect(await keysOf(cn)).toBe('');
    }
  });
});

describe('a new password', () => {
  it('lifts a lock by failed logins: the user changes it in an open session and logs in', async () => {
    const cn = await createUser();
    const session = await login(cn, PASSWORD);
    await failLogins(cn, 5);
    const changed = await http('PUT', `/users/${cn}`, { token: session.access_token, json: { userPassword: 'a-brand-new-password', confirmPassword: 'a-brand-new-password' } });
    expect(changed.status, changed.text).toBe(200);
    expect((await tryLogin(cn, 'a-brand-new-password')).status).toBe(200);
  });

  it('from an administrator keeps an administrator\'s lock, and locks when sent with accountLocked', async () => {
    const keyper = await createUser();
    await ldapmodify(`dn: ${userDN(keyper)}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 20210101120000Z\n`);
    await put(keyper, { userPassword: 'a-brand-new-password', confirmPassword: 'a-brand-new-password' });
    expect((await lockAttributes(keyper)).locked).toBe('20210101120000Z');
    expect((await tryLogin(keyper, 'a-brand-new-password')).body).toEqual({ msg: 'Account is locked' });

    const both = await createUser();
    await put(both, { accountLocked: true, userPassword: 'a-brand-new-password', confirmPassword: 'a-brand-new-password' });
    expect((await lockAttributes(both)).locked).toBe('000001010000Z');
    expect((await tryLogin(both, 'a-brand-new-password')).body).toEqual({ msg: 'Account is locked' });
  });
});

describe('unlocking', () => {
  it('clears the failure count, so one more wrong password does not lock the account again', async () => {
    const cn = await createUser();
    await failLogins(cn, 4);
    await put(cn, { accountLocked: false });
    expect(await lockAttributes(cn)).toEqual({ locked: undefined, failures: [] });
    await failLogins(cn, 1);
    expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
  });

  it('lifts a lock by failed logins (unticking accountLocked in the console)', async () => {
    const cn = await createUser();
    await failLogins(cn, 5);
    await put(cn, { accountLocked: false });
    expect(await userJson(cn)).toMatchObject({ accountLocked: false });
    await failLogins(cn, 1);
    expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
  });
});

describe('logs', () => {
  it('records failed logins and lockouts, naming the account only when there is one', async () => {
    const cn = await createUser();
    const { handler } = await import('../../functions/auth/login.js');
    const level = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'warn';
    const lines = captureLines();
    try {
      const send = (username: string, password: string) => invoke(handler, { method: 'POST', route: '/api/login', json: { username, password } });
      expect((await send('nosuchuser', 'wrong-password')).status).toBe(401);
      expect((await send('Robert"); DROP', 'wrong-password')).status).toBe(401);
      for (let i = 0; i < 5; i += 1) expect((await send(cn, 'wrong-password')).status).toBe(401);
      expect((await send(cn, PASSWORD)).status).toBe(401);
    } finally {
      vi.restoreAllMocks();
      if (level === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = level;
    }
    const about = (username: string) => lines.filter((line) => line.username === username).map((line) => line.message);
    // A name that is no account's is not logged (it may be a password typed into the name field).
    expect(JSON.stringify(lines)).not.toContain('nosuchuser');
    expect(JSON.stringify(lines)).not.toContain('DROP');
    expect(lines.filter((line) => line.message === 'Login failed' && line.username === undefined).map((line) => line.reason)).toEqual(['no such user', 'not a login name or a blank password']);
    expect(about(cn)).toEqual(['Login failed', 'Login failed', 'Login failed', 'Login failed', 'Account locked by failed logins', 'Login refused: account is locked']);
  });
});

describe('the protected admin', () => {
  // Last: on a directory that locks it, the rest of this file would lose its administrator.
  it('is never locked: strangers cannot keep the administrator out', async () => {
    await failLogins('admin', 8);
    expect(await lockAttributes('admin')).toEqual({ locked: undefined, failures: [] });
    expect((await tryLogin('admin', ADMIN_PASSWORD)).status).toBe(200);
  });
});

describe('break-glass', () => {
  it('the README\'s ldapmodify as the directory manager lifts either lock and the failure count', async () => {
    const failures = await createUser();
    await failLogins(failures, 5);
    const locked = await createUser();
    await put(locked, { accountLocked: true });
    for (const cn of [failures, locked]) {
      await ldapmodify(`dn: ${userDN(cn)}\nchangetype: modify\nreplace: pwdAccountLockedTime\n-\nreplace: pwdFailureTime\n`, ['-e', 'relax']);
      expect(await lockAttributes(cn)).toEqual({ locked: undefined, failures: [] });
      expect((await tryLogin(cn, PASSWORD)).status).toBe(200);
    }
  });
});
