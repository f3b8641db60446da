// Starts, once per test run, a private slapd (seeded with Keyper's layout and the demo data) on a
// free loopback port and serverless-offline on another, both pointing at it, with CAs of its own
// (scripts/ca.ts); stops them after. slapd also speaks TLS (StartTLS, and ldaps:// on a second
// port) with a certificate of a test CA made now (scripts/testtls.ts). How the service reaches it
// is chosen by TEST_LDAP_MODE: `plain` (the default), `ldaps` or `starttls` (with LDAP_CA_FILE the
// test CA); TEST_LDAP_DEAD_FIRST=true lists a port where nothing listens (1) first in LDAP_URL.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureLocalCa, localCaEnv } from '../scripts/ca.js';
import { startDirectory, type RunningDirectory } from '../scripts/directory.js';
import { makeTestCertificates, type TestCertificates } from '../scripts/testtls.js';
import { freePort } from '../scripts/ports.js';
import { startOffline, type RunningOffline } from '../scripts/offline.js';

const BASE_DN = 'dc=keyper,dc=example,dc=org';

declare module 'vitest' {
  export interface ProvidedContext {
    env: Record<string, string>;
    apiUrl: string;
    /** slapd's plain ldap:// URL, for tests that talk to it themselves (whatever TEST_LDAP_MODE says). */
    directoryUrl: string;
    /** Its ldaps:// URL and the test certificates (the CA, slapd's, and one for another host). */
    tls: { ldapsUrl: string; certificates: TestCertificates };
  }
}

const MODES = ['plain', 'ldaps', 'starttls'] as const;

/** The service's LDAP_URL and TLS settings for TEST_LDAP_MODE and TEST_LDAP_DEAD_FIRST. */
const serviceLdap = async (directory: { url: string; ldapsUrl: string; caFile: string }): Promise<Record<string, string>> => {
  const mode = process.env.TEST_LDAP_MODE || 'plain';
  if (!(MODES as readonly string[]).includes(mode)) throw new Error(`TEST_LDAP_MODE must be one of ${MODES.join(', ')}, not ${mode}`);
  const url = mode === 'ldaps' ? directory.ldapsUrl : directory.url;
  const dead = process.env.TEST_LDAP_DEAD_FIRST === 'true' ? [`${mode === 'ldaps' ? 'ldaps' : 'ldap'}://127.0.0.1:1`] : [];
  return {
    LDAP_URL: [...dead, url].join(','),
    ...(mode === 'plain' ? {} : { LDAP_CA_FILE: directory.caFile }),
    ...(mode === 'starttls' ? { LDAP_STARTTLS: 'true' } : {}),
  };
};

let directory: RunningDirectory | undefined;
let offline: RunningOffline | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-test-'));
  const [ldapPort, ldapsPort] = [await freePort(), await freePort()];
  const certificates = await makeTestCertificates(path.join(dataDir, 'tls'));
  const directoryUrl = `ldap://127.0.0.1:${ldapPort}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  const env: Record<string, string> = {
    STAGE: 'test',
    ...(await serviceLdap({ url: directoryUrl, ldapsUrl, caFile: certificates.caFile })),
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
    tls: { ...certificates.server, caFile: certificates.caFile, ldapsPort },
  });
  offline = await startOffline(env);
  project.provide('env', env);
  project.provide('apiUrl', offline.apiUrl);
  project.provide('directoryUrl', directoryUrl);
  project.provide('tls', { ldapsUrl, certificates });
}

export async function teardown(): Promise<void> {
  await offline?.stop();
  await directory?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}
