// Running serverless-offline from the tests and the benchmark: on free loopback ports, with its
// own esbuild work folder (so it never clashes with a developer's `npm start`), stopped as a group.
// Also a copy of the service for packaging in tests, away from the developer's folders.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
^ * The esbuild work folder of `npm start` (scripts/start.ts), one per API port so two starts keep
 * apart. Not the default `.esbuild`, which
 * `serverless package` deletes when done: the running API would lose the builds it loads.
 */
export const startWorkFolder = (port: string | number): string => `.esbuild-start-${port}`;

/** What a service folder needs besides serverless.yml (which osls wants as a file, not a link). */
const SERVICE_ENTRIES = ['functions', 'lib', 'local', 'node_modules', 'openapi.json', 'package.json', 'tsconfig.json'];

/**
 * A temporary service folder: serverless.yml copied, the sources linked. Serverless and its plugins
 * write (and delete) `.serverless/` and the esbuild work folder in there, not in the repository.
 */
export const serviceCopy = async (): Promise<{ dir: string; remove: () => Promise<void> }> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyper-service-'));
  await copyFile(path.join(repoRoot, 'serverless.yml'), path.join(dir, 'serverless.yml'));
  for (const entry of SERVICE_ENTRIES) await symlink(path.join(repoRoot, entry), path.join(dir, entry));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
};

/** Polls `url` until it answers any HTTP status (the server is up), or fails after `timeoutMs`. */
export const waitForHttp = async (url: string, timeoutMs: number, child?: ChildProcess): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} after ${timeoutMs} ms`);
      await sleep(250);
    }
  }
};

export interface RunningOffline {
  /** Base URL of the API, e.g. http://127.0.0.1:41234/api */
  apiUrl: string;
  stop(): Promise<void>;
}

export interface OfflineOptions {
  timeoutMs?: number;
  /** The service folder (default the repository). */
  cwd?: string;
  /** The esbuild work folder in it (default one of this run's own). */
  workFolder?: string;
}

/** Starts `serverless offline --stage local` with `env` (the LDAP_* settings, LDAP_BIND_PASSWORD and JWT_SECRET). */
export const startOffline = async (env: Record<string, string>, options: OfflineOptions = {}): Promise<RunningOffline> => {
  const { timeoutMs = 180_000, cwd = repoRoot } = options;
  const httpPort = await freePort();
  const workFolder = options.workFolder ?? `.esbuild-offline-${process.pid}-${httpPort}`;
  const child = spawn(process.execPath, [path.join(repoRoot, 'node_modules/osls/bin/serverless.js'), 'offline', '--stage', 'local'], {
    cwd,
    env: {
      ...process.env,
      ...env,
      STAGE: 'local',
      PORT: String(httpPort),
      OFFLINE_LAMBDA_PORT: String(await freePort()),
      ESBUILD_WORK_FOLDER: workFolder,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => void output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => void output.push(chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-child.pid, 'SIGTERM');
        await Promise.race([exited, sleep(5000)]);
      } catch {
        // already gone
      }
    }
    await rm(path.join(cwd, workFolder), { recursive: true, force: true });
  };
  const apiUrl = `http://127.0.0.1:${httpPort}/api`;
  try {
    await waitForHttp(`${apiUrl}/check_jwt_token`, timeoutMs, child);
  } catch (error) {
    await stop();
    throw new Error(`serverless-offline did not start: ${String(error)}\n${output.join('').slice(-4000)}`);
  }
  return { apiUrl, stop };
};
