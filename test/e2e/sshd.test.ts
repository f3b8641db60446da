// A real OpenSSH server asking this API for keys: sshd on a free loopback port, with a
// throw-away host key, `AuthorizedKeysFile none` and the shipped scripts/sshd/auth.sh as its
// AuthorizedKeysCommand (copied unchanged into a root-owned directory, its settings in the
// keyper.env beside it). A local account is mapped to a Keyper user by principal; `ssh -i` with
// a key stored through the API logs in (also while failed logins have locked the password), and is
// refused once the key is removed, the user locked by an administrator, the key expired or the
// user taken out of the host's group. A host given a credential lets the key in only once
// keyper.env (readable by AuthorizedKeysCommandUser's group alone) carries it.
// sshd must run as root (privilege separation, switching to the login account), so this file is
// skipped, with the reason printed, when not root or when sshd, ssh or ssh-keygen are missing.
import { chmod, chown, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addHost, deleteEntries, patchStoredKey } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiUrl, groupDN, hostDN, http, login, uniqueName } from '../helpers.js';
import { addLoginAccount, makeHostKey, publicKeyOnly, removeLoginAccount, rootOnlyDir, run, SSH_KEYGEN, sshdSkipReason, startSshd, tryLogin, type RunningSshd } from '../sshd-helpers.js';

const AUTH_SH = fileURLToPath(new URL('../../scripts/sshd/auth.sh', import.meta.url));

const skipReason = sshdSkipReason;
if (skipReason !== undefined) console.warn(`test/e2e/sshd.test.ts skipped: ${skipReason}`);

let admin = '';
let work = '';
let clientDir = '';
let sshd: RunningSshd | undefined;
let accountCreated = false;
const account = uniqueName('kpe2e');
const keyperUser = uniqueName('sshuser');
const host = uniqueName('sshe2e');
let publicKey = '';
let fingerprint = '';

/** One login attempt with the client key: true when `echo ok` ran on the server. */
const canLogIn = (): Promise<boolean> =>
  tryLogin(sshd!, account, ['-i', path.join(clientDir, 'id_ed25519'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null']);

const updateUser = async (json: unknown): Promise<unknown[]> => {
  const reply = await http('PUT', `/users/${keyperUser}`, { token: admin, json });
  expect(reply.status, reply.text).toBe(200);
  return reply.body as unknown[];
};

const storedKey = async (): Promise<Record<string, unknown> | undefined> => {
  const reply = await http('GET', `/users/${keyperUser}`, { token: admin });
  const [user] = reply.body as { sshPublicKeys: Record<string, unknown>[] }[];
  return user?.sshPublicKeys.find((k) => k.fingerprint === fingerprint);
};

/** A new client key pair in place of the old one (a removed key is revoked for good). */
const newClientKey = async (): Promise<void> => {
  await rm(path.join(clientDir, 'id_ed25519'), { force: true });
  await rm(path.join(clientDir, 'id_ed25519.pub'), { force: true });
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `${account}@e2e`, '-f', path.join(clientDir, 'id_ed25519')]);
  publicKey = (await readFile(path.join(clientDir, 'id_ed25519.pub'), 'utf8')).trim();
  fingerprint = (await run(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', path.join(clientDir, 'id_ed25519.pub')])).stdout.split(' ')[1]!;
};

const addKey = () => updateUser({ sshPublicKeys: [{ name: 'e2e', key: publicKey, fingerprint, hostGroups: [groupDN(host)] }] });

/** Puts the Keyper side back to "may log in": key stored and unexpired, user unlocked, in the group. */
const restore = async (): Promise<void> => {
  await updateUser({ accountLocked: false, memberOfs: [groupDN(host)] });
  const key = await storedKey();
  if (key === undefined) await addKey();
  else await patchStoredKey(keyperUser, fingerprint, { dateExpire: '20991231000000' });
};

beforeAll(async () => {
  if (skipReason !== undefined) return;
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;

  // The login account (no password: see addLoginAccount).
  await addLoginAccount(account);
  accountCreated = true;

  // Keyper: a host (with its group) and a user whose principal is the login name.
  await addHost(host);
  clientDir = await mkdtemp(path.join(tmpdir(), 'keyper-ssh-client-'));
  await newClientKey();
  const created = await http('POST', '/users', {
    token: admin,
    json: {
      cn: keyperUser,
      userPassword: 'sshd-e2e-test',
      confirmPassword: 'sshd-e2e-test',
      givenName: 'Sshd',
      sn: 'Test',
      duration: 1,
      durationUnit: 'Hours',
      principal: [account],
      memberOfs: [groupDN(host)],
      sshPublicKeys: [{ name: 'e2e', key: publicKey, fingerprint, hostGroups: [groupDN(host)] }],
    },
  });
  expect(created.status, created.text).toBe(201);

  // sshd: the shipped script, unchanged, with its settings next to it.
  work = await rootOnlyDir();
  await copyFile(AUTH_SH, path.join(work, 'auth.sh'));
  await chmod(path.join(work, 'auth.sh'), 0o755);
  await writeFile(path.join(work, 'keyper.env'), `KEYPER_API_URL=${apiUrl()}\nKEYPER_HOSTNAME=${host}\n`, { mode: 0o644 });
  sshd = await startSshd(work, [
    `HostKey ${await makeHostKey(work)}`,
    `AuthorizedKeysCommand ${path.join(work, 'auth.sh')} %u %f`,
    'AuthorizedKeysCommandUser nobody',
    ...publicKeyOnly(account),
  ]);
}, 60_000);

afterAll(async () => {
  if (skipReason !== undefined) return;
  await sshd?.stop();
  if (accountCreated) await removeLoginAccount(account);
  if (admin !== '') await http('DELETE', `/users/${keyperUser}`, { token: admin });
  await deleteEntries([groupDN(host), hostDN(host)]);
  for (const dir of [work, clientDir]) if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('a real sshd with the shipped auth.sh', () => {
  it.skipIf(skipReason !== undefined)('logs in with the key stored through the API (user found by principal)', async () => {
    expect(await canLogIn()).toBe(true);
    expect(sshd!.log()).toMatch(/Accepted publickey for kpe2e/);
  });

  it.skipIf(skipReason !== undefined)('refuses the key once it is removed', async () => {
    await restore();
    expect(await canLogIn()).toBe(true);
    const key = await storedKey();
    await updateUser({ sshPublicKeys: [key] });
    expect(await canLogIn()).toBe(false);
    // Removed is revoked: the same key cannot come back; the next tests use a new one.
    const again = await http('PUT', `/users/${keyperUser}`, { token: admin, json: { sshPublicKeys: [{ name: 'e2e', key: publicKey, hostGroups: [groupDN(host)] }] } });
    expect(again.status).toBe(400);
    await newClientKey();
  });

  it.skipIf(skipReason !== undefined)('refuses the key while the user is locked, and accepts it after unlocking', async () => {
    await restore();
    await updateUser({ accountLocked: true });
    expect(await canLogIn()).toBe(false);
    await updateUser({ accountLocked: false });
    expect(await canLogIn()).toBe(true);
  });

  it.skipIf(skipReason !== undefined)('accepts the key while failed logins have locked the password', async () => {
    await restore();
    for (let i = 0; i < 5; i += 1) expect((await http('POST', '/login', { json: { username: keyperUser, password: 'wrong-password' } })).status).toBe(401);
    expect((await http('POST', '/login', { json: { username: keyperUser, password: 'sshd-e2e-test' } })).body).toMatchObject({ msg: 'Account is locked' });
    expect(await canLogIn()).toBe(true);
  });

  it.skipIf(skipReason !== undefined)('refuses the key once it has expired', async () => {
    await restore();
    expect(await canLogIn()).toBe(true);
    await patchStoredKey(keyperUser, fingerprint, { dateExpire: '20200101000000' });
    expect(await canLogIn()).toBe(false);
  });

  it.skipIf(skipReason !== undefined)('refuses the key once the user is no longer in a group with the host', async () => {
    await restore();
    expect(await canLogIn()).toBe(true);
    await updateUser({ memberOfs: [] });
    expect(await canLogIn()).toBe(false);
  });

  it.skipIf(skipReason !== undefined)('refuses everything when the API cannot be reached (fails closed)', async () => {
    await restore();
    const env = path.join(work, 'keyper.env');
    const saved = await readFile(env, 'utf8');
    await writeFile(env, `KEYPER_API_URL=http://127.0.0.1:1/api\nKEYPER_HOSTNAME=${host}\n`);
    try {
      expect(await canLogIn()).toBe(false);
    } finally {
      await writeFile(env, saved);
    }
    expect(await canLogIn()).toBe(true);
  });

  it.skipIf(skipReason !== undefined)('with a host credential, logs in only when keyper.env carries the token', async () => {
    await restore();
    const env = path.join(work, 'keyper.env');
    const saved = await readFile(env, 'utf8');
    const setCredential = async (json: Record<string, boolean>): Promise<string | undefined> => {
      const reply = await http('PUT', `/hosts/${host}`, { token: admin, json });
      expect(reply.status, reply.text).toBe(200);
      return (reply.body as { credential?: string }[])[0]!.credential;
    };
    // The token is a secret: keyper.env is root's, readable by the group of AuthorizedKeysCommandUser (nobody) only.
    const nobodyGroup = Number((await run('/usr/bin/id', ['-g', 'nobody'])).stdout.trim());
    const configure = async (extra: string): Promise<void> => {
      await writeFile(env, `${saved}${extra}`);
      await chown(env, 0, nobodyGroup);
      await chmod(env, 0o640);
    };
    const token = await setCredential({ rotateCredential: true });
    try {
      expect(await canLogIn()).toBe(false);
      await configure(`KEYPER_HOST_TOKEN=${token}\n`);
      expect(await canLogIn()).toBe(true);
      await configure(`KEYPER_HOST_TOKEN=${token!.slice(1)}A\n`);
      expect(await canLogIn()).toBe(false);
    } finally {
      await writeFile(env, saved);
      await chown(env, 0, 0);
      await chmod(env, 0o644);
      await setCredential({ removeCredential: true });
    }
    expect(await canLogIn()).toBe(true);
  });
});
