// Starts, once per test run, a private slapd (seeded with Keyper's layout and the demo data) on a
// free loopback port and serverless-offline on another, both pointing at it, with CAs of its own
// (scripts/ca.ts); stops them after.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureLocalCa, localCaEnv } from '../scripts/ca.js';
import { startDirectory, type RunningDirectory } from '../scripts/directory.js';
import { freePort } from '../scripts/ports.js';
import { startOffline, type RunningOffline } from '../scripts/offline.js';

const BASE_DN = 'dc=keyper,dc=example,dc=org';

declare module 'vitest' {
  export interface ProvidedContext {
    env: Record<string, string>;
    apiUrl: string;
  }
}

let directory: RunningDirectory | undefined;
let offline: RunningOffline | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-test-'));
  const ldapPort = await freePort();
  const env: Record<string, string> = {
    STAGE: 'test',
    LDAP_URL: `ldap://127.0.0.1:${ldapPort}`,
    LDAP_BASE_DN: BASE_DN,
    LDAP_BIND_DN: `cn=Manager,${BASE_DN}`,
    LDAP_BIND_PASSWORD: randomBytes(12).toString('hex'),
    LDAP_CONNECT_TIMEOUT_MS: '2000',
    LDAP_TIMEOUT_MS: '5000',
    JWT_SECRET: randomBytes(32).toString('hex'),
    KEYPER_ADMIN_PASSWORD: 'keyper-admin',
    // Two console origins: CORS answers name the allowed one and vary by Origin (test/e2e/cors.test.ts).
    CORS_ORIGINS: 'https://console.example.org,http://localhost:5173',
    // Request lines would drown the test report; failures are still logged.
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    // Metric lines too (test/integration/audit.test.ts turns them on to read them).
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...localCaEnv(await ensureLocalCa(path.join(dataDir, 'ca'))),
  };
  directory = await startDirectory({
    dataDir: path.join(dataDir, 'slapd'),
    port: ldapPort,
    baseDN: BASE_DN,
    bindDN: env.LDAP_BIND_DN!,
    bindPassword: env.LDAP_BIND_PASSWORD!,
    adminPassword: env.KEYPER_ADMIN_PASSWORD!,
    reset: true,
  });
  offline = await startOffline(env);
  project.provide('env', env);
  project.provide('apiUrl', offline.apiUrl);
}

export async function teardown(): Promise<void> {
  await offline?.stop();
  await directory?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}
