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
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.js';
import { addHost, deleteEntries, patchStoredKey } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiUrl, groupDN, hostDN, http, login, uniqueName } from '../helpers.js';

const run = promisify(execFile);
const AUTH_SH = fileURLToPath(new URL('../../scripts/sshd/auth.sh', import.meta.url));
const SSHD = '/usr/sbin/sshd';
const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

const skipReason = ((): string | undefined => {
  if (process.getuid?.() !== 0) return 'not running as root (sshd needs root to switch to the login account)';
  const missing = [SSHD, SSH, SSH_KEYGEN, '/usr/sbin/useradd', '/usr/sbin/userdel'].filter((file) => !existsSync(file));
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install openssh-server openssh-client)`;
  return undefined;
})();
if (skipReason !== undefined) console.warn(`test/e2e/sshd.test.ts skipped: ${skipReason}`);

/**
 * sshd runs an AuthorizedKeysCommand only when the file and every directory up to / are owned
 * by root and writable by no one else: /tmp (world-writable) will not do, so the directory goes
 * under /run (or /) and every component is checked here, so a failure says why.
 */
const rootOnlyDir = async (): Promise<string> => {
  const parent = (await isRootOnly('/run')) ? '/run' : '/';
  const dir = await mkdtemp(path.join(parent, 'keyper-sshd-'));
  await chmod(dir, 0o755);
  for (let p = dir; ; p = path.dirname(p)) {
    if (!(await isRootOnly(p))) throw new Error(`${p} must be owned by root and not group/world-writable for sshd`);
    if (p === '/') break;
  }
  return dir;
};

const isRootOnly = async (p: string): Promise<boolean> => {
  const info = await stat(p);
  return info.uid === 0 && (info.mode & 0o022) === 0;
};

const waitForPort = async (port: number, child: ChildProcess, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    }).catch(() => false);
    if (open) return;
    await sleep(50);
  }
  throw new Error(`sshd did not listen on ${port} within ${timeoutMs} ms`);
};

let admin = '';
let work = '';
let clientDir = '';
let sshd: ChildProcess | undefined;
let sshdLog = '';
let port = 0;
let createdPrivsepDir = false;
let accountCreated = false;
const account = uniqueName('kpe2e');
const keyperUser = uniqueName('sshuser');
const host = uniqueName('sshe2e');
let publicKey = '';
let fingerprint = '';

/** One login attempt with the client key: true when `echo ok` ran on the server. */
const canLogIn = async (): Promise<boolean> => {
  const args = [
    '-F', '/dev/null',
    '-i', path.join(clientDir, 'id_ed25519'),
    '-p', String(port),
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
    `${account}@127.0.0.1`,
    'echo ok',
  ];
  try {
    const { stdout } = await run(SSH, args, { timeout: 20_000 });
    return stdout === 'ok\n';
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    // 255 is ssh's own failure (here: "Permission denied (publickey)"); anything else is unexpected.
    if (failed.code !== 255 || !/Permission denied/.test(failed.stderr ?? '')) {
      throw new Error(`ssh failed unexpectedly (${failed.code}): ${failed.stderr}\n--- sshd log ---\n${sshdLog.slice(-3000)}`);
    }
    return false;
  }
};

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

  // The login account (no password: "*" is not a locked account, which sshd would refuse).
  await run('/usr/sbin/useradd', ['--system', '--no-create-home', '--home-dir', '/', '--shell', '/bin/sh', '--password', '*', account]);
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
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'host_ed25519')]);
  port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(work, 'host_ed25519')}`,
    `PidFile ${path.join(work, 'sshd.pid')}`,
    'AuthorizedKeysFile none',
    `AuthorizedKeysCommand ${path.join(work, 'auth.sh')} %u %f`,
    'AuthorizedKeysCommandUser nobody',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin no',
    `AllowUsers ${account}`,
    'LogLevel VERBOSE',
  ];
  await writeFile(path.join(work, 'sshd_config'), `${config.join('\n')}\n`, { mode: 0o600 });
  // Privilege separation needs this directory; create it only if missing, and remove it after.
  if (!existsSync('/run/sshd')) {
    await mkdir('/run/sshd', { mode: 0o755 });
    createdPrivsepDir = true;
  }
  await run(SSHD, ['-t', '-f', path.join(work, 'sshd_config')]);
  sshd = spawn(SSHD, ['-D', '-e', '-f', path.join(work, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr?.on('data', (chunk: Buffer) => {
    sshdLog += chunk.toString();
  });
  await waitForPort(port, sshd, 10_000);
}, 60_000);

afterAll(async () => {
  if (skipReason !== undefined) return;
  if (sshd?.pid !== undefined && sshd.exitCode === null) {
    const exited = new Promise((resolve) => sshd?.once('exit', resolve));
    sshd.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
  }
  if (accountCreated) await run('/usr/sbin/userdel', [account]).catch((error: unknown) => console.warn(`userdel ${account}: ${String(error)}`));
  if (admin !== '') await http('DELETE', `/users/${keyperUser}`, { token: admin });
  await deleteEntries([groupDN(host), hostDN(host)]);
  for (const dir of [work, clientDir]) if (dir !== '') await rm(dir, { recursive: true, force: true });
  if (createdPrivsepDir) await rm('/run/sshd', { recursive: true, force: true });
});

describe('a real sshd with the shipped auth.sh', () => {
  it.skipIf(skipReason !== undefined)('logs in with the key stored through the API (user found by principal)', async () => {
    expect(await canLogIn()).toBe(true);
    expect(sshdLog).toMatch(/Accepted publickey for kpe2e/);
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
