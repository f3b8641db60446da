// `npm start`: the local directory (private slapd with demo data, on $LDAP_PORT, default 3389) plus
// the API through serverless-offline on $PORT (default 3000), whose internal Lambda endpoint takes
// $OFFLINE_LAMBDA_PORT or a free port, so a second `npm start` with other ports runs beside the
// first. Ctrl-C stops both. `npm start -- --reset` reseeds; the CAs (scripts/ca.ts) are kept unless
// `--reset-ca` asks for new ones.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLocalCa, localCaEnv } from './ca.js';
import { DEMO_PASSWORDS, directoryOptionsFromEnv, startDirectory } from './directory.js';
import { startWorkFolder } from './offline.js';
import { freePort } from './ports.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** A JWT secret kept in the data folder, so tokens survive restarts of the local API. */
const localJwtSecret = async (dataDir: string): Promise<string> => {
  const file = path.join(dataDir, 'jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
};

const main = async (): Promise<void> => {
  const options = { ...directoryOptionsFromEnv(), reset: process.argv.includes('--reset'), log: (line: string) => console.log(`[directory] ${line}`) };
  const ca = await ensureLocalCa(path.join(options.dataDir, 'ca'), { reset: process.argv.includes('--reset-ca') });
  const directory = await startDirectory(options);
  const port = process.env.PORT ?? '3000';
  // serverless-offline's own Lambda endpoint (its default, 3002, would clash between two starts).
  const lambdaPort = process.env.OFFLINE_LAMBDA_PORT ?? String(await freePort());
  const env = {
    ...process.env,
    STAGE: 'local',
    PORT: port,
    OFFLINE_LAMBDA_PORT: lambdaPort,
    // The bundles of one start apart from another's, which would delete them when it stops.
    ESBUILD_WORK_FOLDER: process.env.ESBUILD_WORK_FOLDER ?? startWorkFolder(port),
    LDAP_URL: directory.url,
    LDAP_BASE_DN: options.baseDN,
    LDAP_BIND_DN: options.bindDN,
    LDAP_BIND_PASSWORD: options.bindPassword,
    JWT_SECRET: process.env.JWT_SECRET ?? (await localJwtSecret(options.dataDir)),
    ...localCaEnv(ca),
  };
  const offline = spawn(process.execPath, [path.join(repoRoot, 'node_modules/osls/bin/serverless.js'), 'offline', '--stage', 'local'], {
    cwd: repoRoot,
    env,
    stdio: 'inherit',
  });
  console.log(`[start] directory ${directory.url} (${options.dataDir}); API http://localhost:${port}/api; Lambda endpoint port ${lambdaPort}`);
  const made = (['user', 'host'] as const).filter((kind) => ca.created[kind]);
  console.log(`[start] CAs in ${path.dirname(ca.files.user)} (${made.length === 0 ? 'kept' : `new: ${made.join(', ')}`}); public keys at /api/userca and /api/hostca`);
  // Never a password in the banner: terminals and CI logs keep it.
  console.log(
    `[start] logins: admin (password: KEYPER_ADMIN_PASSWORD when the directory was first seeded, else the default in README.md), ` +
      `${Object.keys(DEMO_PASSWORDS).join(', ')} (demo passwords in README.md, "Run it locally")`,
  );

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (offline.exitCode === null) offline.kill('SIGTERM');
    await directory.stop();
    console.log('[start] directory stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  offline.on('exit', (code) => void stop(code ?? 1));
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
