// TLS to the directory and several directory servers. The run's slapd speaks ldaps:// and StartTLS
// with a certificate of a test CA (test/global-setup.ts); a second slapd here has a certificate of
// the same CA for another host. A recording proxy in front of the run's slapd, listed after the
// server under test, shows whether the next server was tried; a port where nothing listens and one
// that takes connections but never answers stand for dead servers.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidCredentialsError } from 'ldapts';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { OutOfTimeError } from '../../lib/budget.js';
import { parseConfig, reloadConfig, type LdapConfig } from '../../lib/config.js';
import { DirectoryTlsError, forgetServerFailures, withDirectory, type Credentials } from '../../lib/directory.js';
import { toApiError } from '../../lib/errors.js';
import { startDirectory, type RunningDirectory } from '../../scripts/directory.js';
import { freePort } from '../../scripts/ports.js';
import { cutEverywhere } from '../cuts.js';
import { startFaultProxy, type FaultProxy } from '../fault-proxy.js';
import { ADMIN_PASSWORD, baseDN, directoryUrl, env, invoke, tokenOf, uniqueName } from '../helpers.js';
import { captureLinesAt } from '../log-lines.js';

const tls = () => inject('tls');
const CLEAR = { LDAP_URL: '', LDAP_STARTTLS: '', LDAP_CA_FILE: '', LDAP_TLS_INSECURE: '' };

/** The run's LDAP settings with these instead of its URL and TLS settings (whatever TEST_LDAP_MODE says). */
const ldapWith = (overrides: Record<string, string>): LdapConfig => parseConfig({ ...env(), ...CLEAR, ...overrides }).ldap;

/** Reads the base entry over a connection opened with `ldap`; answers the URL that served it. */
const readBase = (ldap: LdapConfig, credentials?: Credentials): Promise<string> =>
  withDirectory(async (client) => {
    const { searchEntries } = await client.search(baseDN(), { scope: 'base', attributes: ['1.1'] });
    expect(searchEntries.map((entry) => entry.dn)).toEqual([baseDN()]);
    return (client as unknown as { url: string }).url;
  }, credentials, ldap);

const failure = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

let wrongHost: RunningDirectory;
let wrongHostDir: string;
let proxy: FaultProxy;
let silent: Server;
const silentSockets = new Set<Socket>();
let silentPort: number;
const lines = captureLinesAt('warn');

beforeAll(async () => {
  wrongHostDir = await mkdtemp(path.join(tmpdir(), 'keyper-wrong-host-'));
  const { certificates } = tls();
  wrongHost = await startDirectory({
    dataDir: wrongHostDir,
    port: await freePort(),
    baseDN: baseDN(),
    bindDN: env().LDAP_BIND_DN!,
    bindPassword: env().LDAP_BIND_PASSWORD!,
    adminPassword: ADMIN_PASSWORD,
    demo: false,
    reset: true,
    tls: { ...certificates.wrongHost, caFile: certificates.caFile, ldapsPort: await freePort() },
  });
  const direct = new URL(directoryUrl());
  proxy = await startFaultProxy({ host: direct.hostname, port: Number(direct.port) });
  silent = createServer((socket) => void silentSockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
  await proxy.close();
  await wrongHost.stop();
  await rm(wrongHostDir, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.record();
  // Each test starts as a new function would, remembering no server's failure.
  forgetServerFailures();
});

/** The LDAP operations that reached the proxy since the test began, but the unbinds of earlier tests' connections. */
const throughProxy = (): string[] => proxy.messages().map((m) => m.operation).filter((operation) => operation !== 'unbind');

/** The URLs that the warnings say failed, in order. */
const failedUrls = (): unknown[] => lines.filter((line) => line.message === 'LDAP server failed').map((line) => line.url);

/** URL and StartTLS setting of each way to TLS, for a server's ldap:// and ldaps:// URLs. */
const secured = (mode: 'ldaps' | 'starttls', server: { url: string; ldapsUrl?: string }): Record<string, string> =>
  mode === 'ldaps' ? { LDAP_URL: server.ldapsUrl! } : { LDAP_URL: server.url, LDAP_STARTTLS: 'true' };

const runSlapd = () => ({ url: directoryUrl(), ldapsUrl: tls().ldapsUrl });

describe.each(['ldaps', 'starttls'] as const)('TLS to the directory over %s', (mode) => {
  it('reads the directory when the certificate is of the CA in LDAP_CA_FILE and names the host', async () => {
    const ldap = ldapWith({ ...secured(mode, runSlapd()), LDAP_CA_FILE: tls().certificates.caFile });
    expect(await readBase(ldap)).toBe(ldap.urls[0]);
  });

  it('refuses a certificate of a CA it was not given (Node\'s own CAs only), and answers 503', async () => {
    const error = await failure(readBase(ldapWith(secured(mode, runSlapd()))));
    expect(error).toBeInstanceOf(DirectoryTlsError);
    expect(String(error)).toMatch(/certificate/i);
    expect(toApiError(error).statusCode).toBe(503);
  });

  it('refuses a certificate of the right CA for another host', async () => {
    const error = await failure(readBase(ldapWith({ ...secured(mode, wrongHost), LDAP_CA_FILE: tls().certificates.caFile })));
    expect(error).toBeInstanceOf(DirectoryTlsError);
    expect(String(error)).toMatch(/altnames|does not match/i);
  });

  it('ends on a wrong-host certificate whose names read like a network error, and tries no further server', async () => {
    // By name: Node's message then lists the certificate's DNS names, "connection-timeout" among them.
    const byName = (url: string) => url.replace('//127.0.0.1:', '//localhost:');
    const ldap = ldapWith({ ...secured(mode, { url: byName(wrongHost.url), ldapsUrl: byName(wrongHost.ldapsUrl!) }), LDAP_CA_FILE: tls().certificates.caFile });
    const error = await failure(readBase({ ...ldap, urls: [...ldap.urls, proxy.url] }));
    expect(String(error)).toMatch(/connection-timeout\.wrong-host\.example/);
    expect(error).toBeInstanceOf(DirectoryTlsError);
    expect(throughProxy()).toEqual([]);
    expect(failedUrls()).toEqual([]);
  });

  it('accepts the other host\'s certificate with LDAP_TLS_INSECURE, on the local stage only', async () => {
    const insecure: Record<string, string> = { ...secured(mode, wrongHost), LDAP_TLS_INSECURE: 'true' };
    expect(await readBase(ldapWith({ ...insecure, STAGE: 'test' }))).toBe(insecure.LDAP_URL);
    const deployed = { STAGE: 'prod', LDAP_BIND_PASSWORD: '', JWT_SECRET: '', LDAP_BIND_PASSWORD_PARAMETER: '/keyper/prod/ldap-bind-password', JWT_SECRET_PARAMETER: '/keyper/prod/jwt-secret' };
    expect(() => ldapWith({ ...insecure, ...deployed })).toThrow(/LDAP_TLS_INSECURE/);
  });

  it('does not try the next server after a certificate is refused', async () => {
    const ldap = ldapWith({ ...secured(mode, wrongHost), LDAP_CA_FILE: tls().certificates.caFile });
    const error = await failure(readBase({ ...ldap, urls: [...ldap.urls, proxy.url] }));
    expect(error).toBeInstanceOf(DirectoryTlsError);
    expect(throughProxy()).toEqual([]);
  });

  it('leaves a server that takes connections but never answers for the next, after the connect timeout', async () => {
    const scheme = mode === 'ldaps' ? 'ldaps' : 'ldap';
    const dead = `${scheme}://127.0.0.1:${silentPort}`;
    const good = mode === 'ldaps' ? tls().ldapsUrl : directoryUrl();
    const ldap = ldapWith({ ...secured(mode, runSlapd()), LDAP_URL: `${dead},${good}`, LDAP_CA_FILE: tls().certificates.caFile, LDAP_CONNECT_TIMEOUT_MS: '300' });
    expect(await readBase(ldap)).toBe(good);
    expect(failedUrls()).toEqual([dead]);
    expect(String(lines[0]?.error)).toMatch(/timeout/i);
  });
});

describe('several directory servers', () => {
  it.each([
    ['a port where nothing listens', 'ldap://127.0.0.1:1'],
    ['a name that does not resolve', 'ldap://no-such-host.invalid:389'],
  ])('moves past %s to the next server, and logs the one that failed', async (_, dead) => {
    const ldap = ldapWith({ LDAP_URL: `${dead}, ${proxy.url}` });
    expect(ldap.urls).toEqual([dead, proxy.url]);
    expect(await readBase(ldap)).toBe(proxy.url);
    expect(throughProxy()).toEqual(['bind', 'search']);
    expect(failedUrls()).toEqual([dead]);
  });

  it('remembers a silent server: the next requests go to the next server first, without waiting for it again', async () => {
    const dead = `ldap://127.0.0.1:${silentPort}`;
    const ldap = ldapWith({ LDAP_URL: `${dead},${proxy.url}`, LDAP_CONNECT_TIMEOUT_MS: '300' });
    expect(await readBase(ldap)).toBe(proxy.url);
    const connectionsToDead = silentSockets.size;
    for (let i = 0; i < 3; i += 1) expect(await readBase(ldap)).toBe(proxy.url);
    expect(silentSockets.size).toBe(connectionsToDead);
    expect(failedUrls()).toEqual([dead]);
    expect(throughProxy()).toEqual(Array.from({ length: 4 }, () => ['bind', 'search']).flat());
  });

  it('does not remember a server that answered busy: it is up, and the next request tries it first again', async () => {
    const ldap = ldapWith({ LDAP_URL: `${proxy.url},${directoryUrl()}` });
    // Earlier tests' unbinds reach the proxy after those tests end: let them pass before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.arm({ kind: 'error', at: 1, resultCode: 51 });
    expect(await readBase(ldap)).toBe(directoryUrl());
    expect(proxy.messages()[0]?.operation).toBe('bind');
    expect(proxy.fired()).toBe(true);
    expect(failedUrls()).toEqual([proxy.url]);
    proxy.record();
    expect(await readBase(ldap)).toBe(proxy.url);
    expect(throughProxy()).toEqual(['bind', 'search']);
  });

  it('still tries a server that failed lately, last, when the others fail too', async () => {
    const refusing = 'ldap://127.0.0.1:1';
    await failure(readBase(ldapWith({ LDAP_URL: refusing })));
    expect(failedUrls()).toEqual([refusing]);
    const silentNow = `ldap://127.0.0.1:${silentPort}`;
    const ldap = ldapWith({ LDAP_URL: `${refusing},${silentNow}`, LDAP_CONNECT_TIMEOUT_MS: '300' });
    const error = await failure(readBase(ldap));
    expect(error).toBeInstanceOf(Error);
    expect(failedUrls()).toEqual([refusing, silentNow, refusing]);
  });

  it('leaves a plain server that takes connections but never answers the bind, after the connect timeout', async () => {
    const dead = `ldap://127.0.0.1:${silentPort}`;
    // The operation timeout is longer: the connect timeout covers the bind too.
    const ldap = ldapWith({ LDAP_URL: `${dead},${proxy.url}`, LDAP_CONNECT_TIMEOUT_MS: '300', LDAP_TIMEOUT_MS: '60000' });
    expect(await readBase(ldap)).toBe(proxy.url);
    expect(failedUrls()).toEqual([dead]);
  });

  it('does not try the next server when the bind is refused (a wrong password is wrong everywhere)', async () => {
    const ldap = ldapWith({ LDAP_URL: `${directoryUrl()},${proxy.url}` });
    const error = await failure(readBase(ldap, { dn: `cn=nosuchuser,ou=people,${baseDN()}`, password: 'wrong' }));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(throughProxy()).toEqual([]);
    expect(failedUrls()).toEqual([]);
  });

  it('stops at the end of the invocation\'s time budget, trying no further server', async () => {
    const dead = `ldap://127.0.0.1:${silentPort}`;
    const ldap = ldapWith({ LDAP_URL: `${dead},${proxy.url}`, LDAP_CONNECT_TIMEOUT_MS: '60000' });
    const end = Date.now() + 300;
    const error = await failure(withDirectory(async () => undefined, undefined, ldap, { end, workEnd: end }));
    expect(error).toBeInstanceOf(OutOfTimeError);
    expect(throughProxy()).toEqual([]);
  });

  it('answers 503 when every server fails, having tried each in turn', async () => {
    const admin = await tokenOf('admin', ADMIN_PASSWORD);
    const dead = ['ldap://127.0.0.1:1', `ldap://127.0.0.1:${silentPort}`];
    await withEnv({ LDAP_URL: dead.join(','), LDAP_CONNECT_TIMEOUT_MS: '300' }, async () => {
      const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'alice' }, token: admin });
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ msg: 'Directory unavailable' });
      expect(failedUrls()).toEqual(dead);
    });
  });

  it('undoes a write cut half-way over a second connection to the server that took it, not the first listed', async () => {
    const admin = await tokenOf('admin', ADMIN_PASSWORD);
    const cn = uniqueName('tlshost');
    // A short operation timeout, as test/cuts.ts expects of a stalled connection.
    await withEnv({ LDAP_URL: `ldap://127.0.0.1:1,${proxy.url}`, LDAP_TIMEOUT_MS: '500' }, async () => {
      const messages = await cutEverywhere(proxy, {
        send: (context) => invoke(createHost, { method: 'POST', route: '/api/hosts', token: admin, json: { cn, description: 'failover test', owners: [] } }, context),
        revert: async () => {
          const reply = await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name: cn }, token: admin });
          expect(reply.status, reply.text).toBe(200);
        },
      }, ['drop']);
      expect(messages.filter((m) => m.write).length).toBeGreaterThan(1);
    });
  });
});

/** Runs `work` with these environment variables, the configuration read again before and after. */
const withEnv = async (changes: Record<string, string>, work: () => Promise<void>): Promise<void> => {
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  Object.assign(process.env, changes);
  reloadConfig();
  try {
    await work();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    reloadConfig();
  }
};
