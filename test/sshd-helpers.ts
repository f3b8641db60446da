// A real OpenSSH server for the end-to-end tests: sshd must run as root (privilege separation,
// switching to the login account) and run its commands only from root-owned directories that no
// one else can write, so these tools check that, start sshd on a free loopback port with the
// given sshd_config lines, and try logins with the real ssh client.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../scripts/ports.js';

export const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** Why the real-sshd tests cannot run here, or undefined when they can. */
export const sshdSkipReason = ((): string | undefined => {
  if (process.getuid?.() !== 0) return 'not running as root (sshd needs root to switch to the login account)';
  const missing = [SSHD, SSH, SSH_KEYGEN, '/usr/sbin/useradd', '/usr/sbin/userdel'].filter((file) => !existsSync(file));
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install openssh-server openssh-client)`;
  return undefined;
})();

export const isRootOnly = async (p: string): Promise<boolean> => {
  const info = await stat(p);
  return info.uid === 0 && (info.mode & 0o022) === 0;
};

/**
 * A directory for sshd's commands: every component up to / owned by root and writable by no one
 * else (/tmp will not do), checked here so a failure says why.
 */
export const rootOnlyDir = async (): Promise<string> => {
  const parent = (await isRootOnly('/run')) ? '/run' : '/';
  const dir = await mkdtemp(path.join(parent, 'keyper-sshd-'));
  await chmod(dir, 0o755);
  for (let p = dir; ; p = path.dirname(p)) {
    if (!(await isRootOnly(p))) throw new Error(`${p} must be owned by root and not group/world-writable for sshd`);
    if (p === '/') break;
  }
  return dir;
};

const waitForPort = async (port: number, child: ChildProcess, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`sshd did not listen on ${port} within ${timeoutMs} ms`);
};

/** The local login account. No password: "*" is not a locked account, which sshd would refuse. */
export const addLoginAccount = async (account: string): Promise<void> => {
  await run('/usr/sbin/useradd', ['--system', '--no-create-home', '--home-dir', '/', '--shell', '/bin/sh', '--password', '*', account]);
};

/** Removes the login account; a failure is only reported, so the rest of the clean-up still runs. */
export const removeLoginAccount = async (account: string): Promise<void> => {
  await run('/usr/sbin/userdel', [account]).catch((error: unknown) => console.warn(`userdel ${account}: ${String(error)}`));
};

/** A throw-away Ed25519 host key in `work`: returns its private key file. */
export const makeHostKey = async (work: string): Promise<string> => {
  const file = path.join(work, 'host_ed25519');
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  return file;
};

/** sshd_config lines for logins by public key only (no authorized_keys files), as `account` alone. */
export const publicKeyOnly = (account: string): string[] => [
  'AuthorizedKeysFile none',
  'PubkeyAuthentication yes',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'PermitRootLogin no',
  `AllowUsers ${account}`,
];

export interface RunningSshd {
  port: number;
  /** What sshd has logged so far (LogLevel VERBOSE, on stderr). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts sshd in the foreground on a free port of 127.0.0.1 with `lines` (config checked with -t first). */
export const startSshd = async (work: string, lines: string[]): Promise<RunningSshd> => {
  const port = await freePort();
  const config = [`Port ${port}`, 'ListenAddress 127.0.0.1', `PidFile ${path.join(work, 'sshd.pid')}`, 'UsePAM no', 'StrictModes no', 'LogLevel VERBOSE', ...lines];
  await writeFile(path.join(work, 'sshd_config'), `${config.join('\n')}\n`, { mode: 0o600 });
  // Privilege separation needs this directory. Created when missing and left in place: another
  // suite on the same machine may be running its own sshd (removing it broke concurrent runs).
  if (!existsSync('/run/sshd')) await mkdir('/run/sshd', { mode: 0o755, recursive: true });
  await run(SSHD, ['-t', '-f', path.join(work, 'sshd_config')]);
  const child = spawn(SSHD, ['-D', '-e', '-f', path.join(work, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  await waitForPort(port, child, 10_000);
  return {
    port,
    log: () => log,
    stop: async () => {
      if (child.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5_000)]);
      }
    },
  };
};

/**
 * One login attempt: true when `echo ok` ran on the server, false when ssh was refused (exit 255
 * with "Permission denied", or, with `hostKeyRefusal`, a host key it would not accept); anything
 * else fails the test with sshd's log.
 */
export const tryLogin = async (sshd: RunningSshd, account: string, options: string[], hostKeyRefusal = false): Promise<boolean> => {
  const args = [
    '-F', '/dev/null',
    '-p', String(sshd.port),
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
    ...options,
    `${account}@127.0.0.1`,
    'echo ok',
  ];
  try {
    const { stdout } = await run(SSH, args, { timeout: 20_000 });
    return stdout === 'ok\n';
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    const refused = /Permission denied/.test(failed.stderr ?? '') || (hostKeyRefusal && /Host key verification failed/.test(failed.stderr ?? ''));
    if (failed.code !== 255 || !refused) {
      throw new Error(`ssh failed unexpectedly (${failed.code}): ${failed.stderr}\n--- sshd log ---\n${sshd.log().slice(-3000)}`);
    }
    return false;
  }
};
