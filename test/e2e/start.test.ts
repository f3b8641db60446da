// `npm start` as a developer runs it (its own slapd and serverless-offline, on free ports, in a
// scratch data folder): the banner says where the logins' passwords are, never a password.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { DEMO_PASSWORDS } from '../../scripts/directory.js';
import { freePort } from '../../scripts/ports.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

it('the banner of npm start prints no password', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-start-'));
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  // serverless-offline's build folder, apart from a developer's `npm start` (.esbuild-start).
  const workFolder = `.esbuild-start-test-${process.pid}`;
  const child = spawn(process.execPath, [path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'scripts/start.ts'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOCAL_DATA_DIR: dataDir,
      LDAP_PORT: String(await freePort()),
      PORT: String(await freePort()),
      KEYPER_ADMIN_PASSWORD: adminPassword,
      LOG_LEVEL: 'error',
      ESBUILD_WORK_FOLDER: workFolder,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    // The banner comes once the directory runs; stop waiting if start.ts fails instead.
    const deadline = Date.now() + 45_000;
    while (!/\[start\] logins/.test(output) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const banner = output.split('\n').filter((line) => line.startsWith('[start]')).join('\n');
    expect(banner, output).toMatch(/\[start\] logins/);
    expect(banner).not.toContain(adminPassword);
    for (const password of Object.values(DEMO_PASSWORDS)) expect(banner).not.toContain(password);
    expect(banner).toContain('KEYPER_ADMIN_PASSWORD');
    expect(banner).toContain('README.md');
  } finally {
    // start.ts stops serverless-offline and its directory on SIGTERM.
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
    await rm(path.join(repoRoot, workFolder), { recursive: true, force: true });
  }
});
