// `npm start` as a developer runs it, twice side by side (each with its own PORT, LDAP_PORT and
// data folder, neither given a Lambda port): both serve, the banner names no password, and the
// README's curl examples each show a result with the demo data.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, DEMO_PASSWORDS } from '../../scripts/directory.js';
import { freePort } from '../../scripts/ports.js';
import { markdownSection, shellBlocks, shellCommands } from '../readme.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  port: number;
  dataDir: string;
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<void>;
}

const start = async (extraEnv: Record<string, string> = {}): Promise<Started> => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-start-'));
  const port = await freePort();
  // No OFFLINE_LAMBDA_PORT and no ESBUILD_WORK_FOLDER: npm start must keep two starts apart itself.
  const child = spawn(process.execPath, [path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'scripts/start.ts'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOCAL_DATA_DIR: dataDir,
      LDAP_PORT: String(await freePort()),
      PORT: String(port),
      LOG_LEVEL: 'error',
      ...extraEnv,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { port, dataDir, child, output: () => output, exited };
};

/** Waits until the API answers /api/health with 200 (the directory is up too), or the start dies. */
const ready = async (started: Started, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) throw new Error(`npm start exited with ${started.child.exitCode}:\n${started.output()}`);
    const status = await fetch(`http://127.0.0.1:${started.port}/api/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (reply) => reply.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(500);
  }
  throw new Error(`npm start did not serve /api/health within ${timeoutMs / 1000} s:\n${started.output()}`);
};

const stop = async (started: Started | undefined): Promise<void> => {
  if (started === undefined) return;
  // start.ts stops serverless-offline and its directory on SIGTERM.
  if (started.child.exitCode === null) started.child.kill('SIGTERM');
  await started.exited;
  await rm(started.dataDir, { recursive: true, force: true });
  await rm(path.join(repoRoot, `.esbuild-start-${started.port}`), { recursive: true, force: true });
};

/** Runs the commands in one bash, each followed by markers; curl's HTTP statuses go to stderr. */
const runExamples = async (commands: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> => {
  const script = [
    // Every curl also reports its status, on stderr, so pipes of its stdout stay as they are.
    `curl() { command curl --write-out '%{stderr}@@status %{http_code}\\n' "$@"; }`,
    ...commands.flatMap((command, i) => {
      const assigned = /^([A-Za-z_]\w*)=/.exec(command)?.[1];
      return [
        command,
        `rc=$?`,
        // An assignment shows its result in the variable.
        ...(assigned === undefined ? [] : [`printf '%s' "$${assigned}"`]),
        `echo; echo "@@end ${i} $rc"; echo "@@end ${i}" >&2`,
      ];
    }),
  ].join('\n');
  const child = spawn('bash', ['-c', script], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { stdout, stderr, code };
};

/** Output of each command between the markers runExamples writes. */
const segments = (text: string, count: number): string[] => {
  const parts: string[] = [];
  let rest = text;
  for (let i = 0; i < count; i++) {
    const marker = new RegExp(`^@@end ${i}\\b.*$`, 'm');
    const found = marker.exec(rest);
    parts.push(found === null ? rest : rest.slice(0, found.index));
    rest = found === null ? '' : rest.slice(found.index + found[0].length + 1);
  }
  return parts;
};

describe('npm start, twice side by side', () => {
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  let first: Started | undefined;
  let second: Started | undefined;

  beforeAll(async () => {
    first = await start();
    second = await start({ KEYPER_ADMIN_PASSWORD: adminPassword });
    await Promise.all([ready(first, 240_000), ready(second, 240_000)]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([stop(first), stop(second)]);
  });

  it('both serve, each with a Lambda endpoint port of its own', () => {
    const lambdaPort = (started: Started): string | undefined => /Lambda endpoint port (\d+)/.exec(started.output())?.[1];
    expect(first!.child.exitCode).toBeNull();
    expect(second!.child.exitCode).toBeNull();
    expect(lambdaPort(first!), first!.output()).toMatch(/^\d+$/);
    expect(lambdaPort(second!), second!.output()).toMatch(/^\d+$/);
    expect(lambdaPort(first!)).not.toBe(lambdaPort(second!));
  });

  it('the banner prints no password', () => {
    const banner = second!.output().split('\n').filter((line) => line.startsWith('[start]')).join('\n');
    expect(banner, second!.output()).toMatch(/\[start\] logins/);
    expect(banner).not.toContain(adminPassword);
    for (const password of Object.values(DEMO_PASSWORDS)) expect(banner).not.toContain(password);
    expect(banner).toContain('KEYPER_ADMIN_PASSWORD');
    expect(banner).toContain('README.md');
  });

  it("the README's curl examples each show a result with the demo data", async () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = markdownSection(readme, 'Log in and call the API with curl');
    const commands = shellBlocks(section)
      .flatMap(shellCommands)
      .map((command) => command.replace(/\b(localhost|127\.0\.0\.1):3000\b/g, `$1:${first!.port}`));
    expect(commands.length).toBeGreaterThanOrEqual(4);
    expect(commands.some((command) => command.includes('/api/authkeys'))).toBe(true);

    const run = await runExamples(commands);
    expect(run.code, run.stderr).toBe(0);
    const outputs = segments(run.stdout, commands.length);
    const statuses = segments(run.stderr, commands.length);
    commands.forEach((command, i) => {
      expect(run.stdout, command).toMatch(new RegExp(`^@@end ${i} 0$`, 'm'));
      expect(outputs[i]!.trim(), `no result from: ${command}`).not.toBe('');
      const codes = [...statuses[i]!.matchAll(/^@@status (\d+)$/gm)].map((match) => Number(match[1]));
      expect(codes.length, command).toBeGreaterThan(0);
      for (const code of codes) expect(code, `${command}\n${outputs[i]}`).toBeGreaterThanOrEqual(200);
      for (const code of codes) expect(code, `${command}\n${outputs[i]}`).toBeLessThan(300);
      if (command.includes('/api/authkeys')) expect(outputs[i], command).toContain(DEMO_KEY.line);
    });
  });
});
