// `npm run bench`: latency and throughput of /api/authkeys, the request sshd makes at every login.
// Starts its own private slapd (temp dir, free port, demo data) and serverless-offline, seeds
// 1,000 users × 2 keys and 50 hosts straight into the directory, then measures the same requests
// (a) over HTTP through serverless-offline, (b) by invoking the handler directly and (c) as the
// raw LDAP lower bound (connect, bind, the handler's three searches, the revocation's included,
// unbind, with ldapts), each one at a time and 10 at a time. Then the lists (scripts/bench-lists.ts: users at 1,000 and 20,000,
// a 20,000-member group); `npm run bench -- --lists-only` runs only those. Prints tables; asserts
// nothing; cleans up after itself.
// First, before any server runs: the size and cold import of every function's bundle
// (scripts/bundles.ts); `npm run bench -- --bundles-only` prints those rows alone.
// Then its own section for certificates: /api/authprinc (a certificate on each sampled user) and
// /api/krlca with 10,000 revocations in the directory, whole and answered 304.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { Attribute, Change, Client, EqualityFilter, NoSuchObjectError } from 'ldapts';
import { HOST_FACT_ATTRIBUTES, USER_FACT_ATTRIBUTES, userLookupFilter } from '../lib/authkeys.js';
import { reloadConfig } from '../lib/config.js';
import { entityDN } from '../lib/dn.js';
import { expiryAfter, keyValue } from '../lib/keys.js';
import { readKrl, sha256OfFingerprint } from '../lib/krl.js';
import { containerDN, GROUP_OBJECT_CLASSES, HOST_OBJECT_CLASSES, revocationsDN, USER_OBJECT_CLASSES } from '../lib/layout.js';
import { buildKrl, keyCn, readRevocations, revokeCertificate, revokeKey } from '../lib/revocations.js';
import { generateCaKey } from '../lib/sshca.js';
import { certificateValidity, randomSerial, signCertificate } from '../lib/sshcert.js';
import { parsePublicKey } from '../lib/sshkeys.js';
import { DEFAULT_VALIDITY, infoValue } from '../lib/validity.js';
import { benchLists } from './bench-lists.js';
import { benchBundles } from './bundles.js';
import { startDirectory, type RunningDirectory } from './directory.js';
import { startOffline, type RunningOffline } from './offline.js';
import { freePort } from './ports.js';
import { ed25519Line } from './sshkey-lines.js';

const USERS = 1_000;
const HOSTS = 50;
const REQUESTS = 300;
/** Requests through a mode before its measurement (JIT, connection paths). */
const WARMUP = 100;
const CONCURRENCY = 10;
/** The whole run stops (and cleans up) after this, whatever state it is in. */
const DEADLINE_MS = 10 * 60_000;

const BASE_DN = 'dc=keyper,dc=example,dc=org';

interface Request {
  username: string;
  host: string;
  fingerprint: string;
  /** The line the answer must contain (a sanity count, not an assertion). */
  expected: string;
}

// ---- seeding ----

const hostName = (i: number): string => `bench-h${i}`;
const userName = (i: number): string => `bu${i}`;
/** Each user is in two host groups; key 0 is for the first, key 1 for the second. */
const groupsOf = (i: number): [number, number] => [i % HOSTS, (i + 7) % HOSTS];

/** Runs `work` over items with `parallel` clients bound as the service account. */
const inParallel = async <T>(url: string, bind: { dn: string; password: string }, items: T[], parallel: number, work: (client: Client, item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      const client = new Client({ url, timeout: 30_000, connectTimeout: 5_000 });
      await client.bind(bind.dn, bind.password);
      try {
        while (next < items.length) await work(client, items[next++]!);
      } finally {
        await client.unbind();
      }
    }),
  );
};

const seed = async (url: string, bind: { dn: string; password: string }): Promise<Request[]> => {
  const hosts = Array.from({ length: HOSTS }, (_, i) => i);
  await inParallel(url, bind, hosts, 8, async (client, i) => {
    const dn = entityDN('host', hostName(i), BASE_DN);
    await client.add(dn, { objectClass: HOST_OBJECT_CLASSES, cn: hostName(i), info: infoValue(DEFAULT_VALIDITY) });
    await client.add(entityDN('group', hostName(i), BASE_DN), { objectClass: GROUP_OBJECT_CLASSES, cn: hostName(i), member: [dn] });
  });

  const dateExpire = expiryAfter(new Date(), { duration: 30, durationUnit: 'Days' });
  const requests: Request[] = [];
  const users = Array.from({ length: USERS }, (_, i) => {
    const lines = [ed25519Line(`${userName(i)}@laptop`), ed25519Line(`${userName(i)}@desk`)];
    const keys = lines.map((line, keyid) => {
      const hostGroups = [entityDN('group', hostName(groupsOf(i)[keyid]!), BASE_DN)];
      return keyValue({ name: `key ${keyid}`, key: line, fingerprint: parsePublicKey(line).fingerprint, hostGroups }, keyid, dateExpire);
    });
    requests.push({ username: userName(i), host: hostName(groupsOf(i)[0]), fingerprint: parsePublicKey(lines[0]!).fingerprint, expected: lines[0]! });
    return { i, keys };
  });
  await inParallel(url, bind, users, 8, async (client, { i, keys }) => {
    await client.add(entityDN('user', userName(i), BASE_DN), {
      objectClass: USER_OBJECT_CLASSES,
      cn: userName(i),
      uid: userName(i),
      sn: 'Bench',
      givenName: `User ${i}`,
      pseudonym: `${userName(i)}-deploy`,
      pwdAttribute: 'userPassword',
      info: '{"duration": 30, "durationUnit": "Days"}',
      sshPublicKey: keys,
    });
  });
  // One modify per group adds all its users (the memberof overlay then sets their memberOf).
  await inParallel(url, bind, hosts, 4, async (client, h) => {
    const members = users.filter(({ i }) => groupsOf(i).includes(h)).map(({ i }) => entityDN('user', userName(i), BASE_DN));
    await client.modify(entityDN('group', hostName(h), BASE_DN), [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: members }) })]);
  });
  return requests;
};

// ---- the three ways of asking ----

type Ask = (request: Request) => Promise<string>;

const query = (r: Request): string => new URLSearchParams({ username: r.username, host: r.host, fingerprint: r.fingerprint }).toString();

const overHttp = (apiUrl: string): Ask => async (r) => (await fetch(`${apiUrl}/authkeys?${query(r)}`)).text();

const directly = async (): Promise<Ask> => {
  const { handler } = await import('../functions/public/authkeys.js');
  const context = { awsRequestId: 'bench', functionName: 'authkeys', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
  return async (r) => {
    const rawQueryString = query(r);
    const event = {
      version: '2.0',
      routeKey: 'GET /api/authkeys',
      rawPath: '/api/authkeys',
      rawQueryString,
      headers: {},
      queryStringParameters: { username: r.username, host: r.host, fingerprint: r.fingerprint },
      requestContext: { http: { method: 'GET', path: '/api/authkeys' }, requestId: 'bench', routeKey: 'GET /api/authkeys' },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const result = await handler(event, context);
    return result.body ?? '';
  };
};

/**
 * The lower bound: the LDAP work any implementation honouring revocations must do, and nothing
 * else: connect, bind, then the handler's three searches sent together as it sends them (the
 * user, the host, and the revocation of the request's fingerprint, lib/revocations.ts's
 * revokedKeys: one equality on cn under ou=revocations), unbind.
 */
const rawLdap = (url: string, bind: { dn: string; password: string }): Ask => async (r) => {
  const client = new Client({ url, timeout: 5_000, connectTimeout: 3_000, strictDN: true });
  try {
    await client.bind(bind.dn, bind.password);
    const [users, host] = await Promise.all([
      client.search(containerDN('user', BASE_DN), { scope: 'one', filter: userLookupFilter(r.username), attributes: USER_FACT_ATTRIBUTES }),
      client.search(entityDN('host', r.host, BASE_DN), { scope: 'base', attributes: HOST_FACT_ATTRIBUTES }),
      // No ou=revocations yet (before the revocations are seeded) is no revocation, as for the handler.
      client
        .search(revocationsDN(BASE_DN), { scope: 'one', filter: new EqualityFilter({ attribute: 'cn', value: keyCn(sha256OfFingerprint(r.fingerprint).toString('hex')) }), attributes: ['cn'] })
        .catch((error: unknown) => {
          if (!(error instanceof NoSuchObjectError)) throw error;
        }),
    ]);
    return `${users.searchEntries.length}/${host.searchEntries.length}`;
  } finally {
    await client.unbind();
  }
};

// ---- measuring ----

interface Figures {
  mode: string;
  concurrency: number;
  n: number;
  p50: number;
  p99: number;
  rps: number;
  /** Answers containing the expected key line (raw LDAP: answers that found user and host). */
  ok: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;

/** Runs `requests` through `ask` with `concurrency` workers; the latency of each, in ms. */
const drive = async <R = Request>(
  ask: (request: R) => Promise<string>,
  requests: R[],
  concurrency: number,
  check: (r: R, answer: string) => boolean,
): Promise<{ latencies: number[]; ok: number }> => {
  const latencies: number[] = [];
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        const t0 = performance.now();
        const answer = await ask(r);
        latencies.push(performance.now() - t0);
        if (check(r, answer)) ok += 1;
      }
    }),
  );
  return { latencies, ok };
};

const figures = (mode: string, concurrency: number, latencies: number[], elapsedMs: number, ok: number): Figures => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { mode, concurrency, n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), rps: (sorted.length / elapsedMs) * 1000, ok };
};

interface Mode {
  name: string;
  ask: Ask;
  check: (r: Request, answer: string) => boolean;
}

/**
 * Measures the modes in interleaved rounds (a slice of the requests through each mode in turn),
 * so that whatever else the machine does at a given moment weighs on every mode alike.
 */
const measure = async (modes: Mode[], requests: Request[], concurrency: number, rounds: number): Promise<Figures[]> => {
  // Warm-up at the same concurrency: serverless-offline starts one worker per concurrent request.
  for (const mode of modes) await drive(mode.ask, Array.from({ length: WARMUP }, (_, k) => requests[k % requests.length]!), concurrency, () => true);
  const totals = modes.map(() => ({ latencies: [] as number[], elapsed: 0, ok: 0 }));
  const size = Math.ceil(requests.length / rounds);
  for (let round = 0; round < rounds; round += 1) {
    const slice = requests.slice(round * size, (round + 1) * size);
    for (const [index, mode] of modes.entries()) {
      const started = performance.now();
      const { latencies, ok } = await drive(mode.ask, slice, concurrency, mode.check);
      const total = totals[index]!;
      total.elapsed += performance.now() - started;
      total.latencies.push(...latencies);
      total.ok += ok;
    }
  }
  return modes.map((mode, index) => figures(mode.name, concurrency, totals[index]!.latencies, totals[index]!.elapsed, totals[index]!.ok));
};

const table = (rows: Figures[]): string => {
  const header = ['mode', 'concurrency', 'requests', 'p50 ms', 'p99 ms', 'req/s', 'answers ok'];
  const cells = rows.map((f) => [f.mode, String(f.concurrency), String(f.n), f.p50.toFixed(2), f.p99.toFixed(2), f.rps.toFixed(0), `${f.ok}/${f.n}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
};

/** A sample of the seeded logins, in a fixed pseudo-random order. */
const sample = (requests: Request[], n: number): Request[] => Array.from({ length: n }, (_, k) => requests[(k * 7919) % requests.length]!);

/**
 * The handlers invoked in this process write their metrics to stdout, one EMF JSON line per
 * invocation (lib/metrics.ts), as on Lambda: that work stays in what is measured, but the lines,
 * thousands of them, are counted and left out of the bench's output. Returns the count so far.
 */
const leaveOutMetricLines = (): (() => number) => {
  let count = 0;
  const write = process.stdout.write.bind(process.stdout) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    if (typeof chunk === 'string' && chunk.startsWith('{"_aws":')) {
      count += 1;
      return true;
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  return () => count;
};

// ---- certificates: /api/authprinc, and /api/krlca with 10,000 revocations ----

const REVOCATIONS = 10_000;
const KRL_REQUESTS = 40;

interface PrincipalRequest extends Request {
  serial: string;
}

/** A certificate (keyid 100) on each sampled user for its first host group, and REVOCATIONS revocations. */
const seedCertificates = async (url: string, bind: { dn: string; password: string }, requests: Request[]): Promise<PrincipalRequest[]> => {
  const ca = generateCaKey('ssh-ed25519', 'bench user ca');
  const now = Math.floor(Date.now() / 1000);
  const certified = [...new Map(requests.map((r) => [r.username, r])).values()].map((r) => {
    const line = ed25519Line(`${r.username}@cert`);
    const cert = signCertificate(ca, { publicKey: line, type: 'user', keyId: r.username, principals: [r.username], ...certificateValidity(now, 30 * 86_400), serial: randomSerial() });
    const hostGroups = [entityDN('group', r.host, BASE_DN)];
    const value = JSON.stringify({ name: 'cert', key: line, fingerprint: cert.fingerprint, hostGroups, keyid: 100, keytype: 1, dateExpire: expiryAfter(new Date(), { duration: 30, durationUnit: 'Days' }), cert: cert.line, serial: String(cert.serial) });
    return { request: { ...r, fingerprint: cert.fingerprint, serial: String(cert.serial), expected: r.username }, value };
  });
  await inParallel(url, bind, certified, 8, async (client, { request, value }) => {
    await client.modify(entityDN('user', request.username, BASE_DN), [new Change({ operation: 'add', modification: new Attribute({ type: 'sshPublicKey', values: [value] }) })]);
  });
  // Half keys, half certificate serials of the bench CA (none of the certificates above).
  const revocations = Array.from({ length: REVOCATIONS }, (_, k) => k);
  await inParallel(url, bind, revocations, 8, async (client, k) => {
    if (k % 2 === 0) await revokeKey(client, BASE_DN, `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`);
    else await revokeCertificate(client, BASE_DN, { ca: ca.blob, serial: BigInt(k) });
  });
  return certified.map(({ request }) => request);
};

/** Invokes a handler of a public GET route directly, with a query and headers. */
type PublicHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode?: number; body?: string; headers?: Record<string, unknown> }>;

const invoker = async (module: Promise<{ handler: PublicHandler }>, route: string) => {
  const { handler } = await module;
  const context = { awsRequestId: 'bench', functionName: route, getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
  return async (query: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: string; etag: string }> => {
    const event = {
      version: '2.0',
      routeKey: `GET ${route}`,
      rawPath: route,
      rawQueryString: new URLSearchParams(query).toString(),
      headers,
      queryStringParameters: query,
      requestContext: { http: { method: 'GET', path: route, sourceIp: '127.0.0.1' }, requestId: 'bench', routeKey: `GET ${route}` },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const result = await handler(event, context);
    return { status: result.statusCode ?? 200, body: result.body ?? '', etag: String(result.headers?.ETag ?? '') };
  };
};

const principalQuery = (r: PrincipalRequest): Record<string, string> => ({ username: r.username, host: r.host, fingerprint: r.fingerprint, serial: r.serial });

/** The in-process rows (before serverless-offline runs) and, given its URL, the HTTP rows. */
const certificateRows = async (requests: PrincipalRequest[], ldap: { url: string; bind: { dn: string; password: string } }, apiUrl?: string): Promise<Figures[]> => {
  const rows: Figures[] = [];
  const measureRows = async <R>(name: string, ask: (r: R) => Promise<string>, items: R[], check: (r: R, answer: string) => boolean, concurrencies: number[], warmup: number) => {
    for (const concurrency of concurrencies) {
      await drive(ask, items.slice(0, warmup), concurrency, () => true);
      const started = performance.now();
      const { latencies, ok } = await drive(ask, items, concurrency, check);
      rows.push(figures(name, concurrency, latencies, performance.now() - started, ok));
    }
  };
  const principal = (r: PrincipalRequest, answer: string) => answer === `${r.expected}\n`;
  const krlItems = Array.from({ length: KRL_REQUESTS }, (_, k) => k);
  if (apiUrl === undefined) {
    const authprinc = await invoker(import('../functions/public/authprinc.js'), '/api/authprinc');
    const krlca = await invoker(import('../functions/public/krlca.js'), '/api/krlca');
    await measureRows('authprinc: direct handler', async (r: PrincipalRequest) => (await authprinc(principalQuery(r))).body, requests, principal, [1, CONCURRENCY], WARMUP);
    const whole = await krlca({});
    const version = readKrl(Buffer.from(whole.body, 'base64')).version;
    // What a cold function, or any after a new revocation, does: read every revocation and build.
    await measureRows(`krlca (${version} revocations): build`, async () => {
      const client = new Client({ url: ldap.url, timeout: 30_000, connectTimeout: 5_000 });
      try {
        await client.bind(ldap.bind.dn, ldap.bind.password);
        return buildKrl(await readRevocations(client, BASE_DN)).version === version ? 'ok' : 'no';
      } finally {
        await client.unbind();
      }
    }, krlItems, (_, a) => a === 'ok', [1], 5);
    await measureRows('krlca: direct, whole (warm, list unchanged)', async () => ((await krlca({})).status === 200 ? 'ok' : 'no'), krlItems, (_, a) => a === 'ok', [1], 5);
    await measureRows('krlca: direct, If-None-Match (304, warm)', async () => ((await krlca({}, { 'if-none-match': whole.etag })).status === 304 ? 'ok' : 'no'), krlItems, (_, a) => a === 'ok', [1], 5);
  } else {
    await measureRows('authprinc: HTTP (serverless-offline)', async (r: PrincipalRequest) => (await fetch(`${apiUrl}/authprinc?${new URLSearchParams(principalQuery(r)).toString()}`)).text(), requests, principal, [1, CONCURRENCY], WARMUP);
    const first = await fetch(`${apiUrl}/krlca`);
    const tag = first.headers.get('etag') ?? '';
    const bytes = (await first.arrayBuffer()).byteLength;
    await measureRows(`krlca: HTTP, whole (${bytes} bytes, warm)`, async () => {
      const answer = await fetch(`${apiUrl}/krlca`);
      return answer.status === 200 && (await answer.arrayBuffer()).byteLength === bytes ? 'ok' : 'no';
    }, krlItems, (_, a) => a === 'ok', [1], 5);
    await measureRows('krlca: HTTP, If-None-Match (304, warm)', async () => ((await fetch(`${apiUrl}/krlca`, { headers: { 'If-None-Match': tag } })).status === 304 ? 'ok' : 'no'), krlItems, (_, a) => a === 'ok', [1], 5);
  }
  return rows;
};

// ---- the run ----

const main = async (): Promise<void> => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-bench-'));
  let directory: RunningDirectory | undefined;
  let offline: RunningOffline | undefined;
  const cleanup = async (): Promise<void> => {
    await offline?.stop();
    await directory?.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = setTimeout(() => {
    console.error(`bench: stopped after ${DEADLINE_MS / 60_000} minutes`);
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS);
  deadline.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  const metricLines = leaveOutMetricLines();

  try {
    const ldapPort = await freePort();
    const bind = { dn: `cn=Manager,${BASE_DN}`, password: randomBytes(12).toString('hex') };
    const t0 = performance.now();
    // dbnosync: a throwaway directory, seeded with tens of thousands of entries in a few minutes.
    const directoryOptions = { dataDir: path.join(dataDir, 'slapd'), port: ldapPort, baseDN: BASE_DN, bindDN: bind.dn, bindPassword: bind.password, adminPassword: 'keyper-admin', databaseConfig: ['dbnosync'] };
    directory = await startDirectory({ ...directoryOptions, reset: true });
    /** The same directory and data, restarted with the sssvlv overlay (pages by sorted views). */
    const restartWithSortedViews = async (): Promise<void> => {
      await directory?.stop();
      directory = await startDirectory({ ...directoryOptions, reset: false, sortedViews: true });
    };
    const seeded = await seed(directory.url, bind);
    console.log(`bench: slapd on ${directory.url} seeded with ${USERS} users × 2 keys and ${HOSTS} hosts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const env: Record<string, string> = {
      STAGE: 'local',
      LDAP_URL: directory.url,
      LDAP_BASE_DN: BASE_DN,
      LDAP_BIND_DN: bind.dn,
      LDAP_BIND_PASSWORD: bind.password,
      JWT_SECRET: randomBytes(32).toString('hex'),
      // One info line per request would dominate what is measured here; warnings still show.
      LOG_LEVEL: 'warn',
    };
    Object.assign(process.env, env);
    reloadConfig();
    // `npm run bench -- --lists-only`: only the lists section (it needs the same seeded directory).
    if (process.argv.includes('--lists-only')) {
      await benchLists({ url: directory.url, bind, baseDN: BASE_DN, env, seededUsers: USERS, adminPassword: 'keyper-admin', sortedViews: restartWithSortedViews });
      return;
    }
    const requests = sample(seeded, REQUESTS);
    const hasKey = (r: Request, answer: string) => answer === `${r.expected}\n`;
    const foundBoth = (_: Request, answer: string) => answer === '1/1';
    const raw = rawLdap(directory.url, bind);
    const direct = await directly();
    // Every sampled entry once through slapd first, so no mode pays for a cold entry cache.
    for (const r of requests) await raw(r);
    const t1 = performance.now();
    const principalRequests = await seedCertificates(directory.url, bind, requests);
    console.log(`bench: a certificate on each of ${principalRequests.length} users and ${REVOCATIONS} revocations seeded in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

    // Direct and raw first, while serverless-offline is not running (it would share the 2 cores).
    const rows: Figures[] = [];
    const inProcess: Mode[] = [
      { name: 'raw LDAP bound', ask: raw, check: foundBoth },
      { name: 'direct handler', ask: direct, check: hasKey },
    ];
    for (const concurrency of [1, CONCURRENCY]) rows.push(...(await measure(inProcess, requests, concurrency, 10)));
    const certRows = await certificateRows(principalRequests, { url: directory.url, bind });

    offline = await startOffline(env);
    const { apiUrl } = offline;
    console.log(`bench: serverless-offline on ${apiUrl}`);
    const overOffline: Mode[] = [{ name: 'HTTP (serverless-offline)', ask: overHttp(apiUrl), check: hasKey }];
    for (const concurrency of [1, CONCURRENCY]) rows.push(...(await measure(overOffline, requests, concurrency, 1)));
    certRows.push(...(await certificateRows(principalRequests, { url: directory.url, bind }, apiUrl)));

    rows.sort((a, b) => a.concurrency - b.concurrency);
    console.log(`\nGET /api/authkeys?username=&host=&fingerprint= — ${REQUESTS} requests per row (after ${WARMUP} warm-up), ${USERS} users × 2 keys, ${HOSTS} hosts`);
    console.log(`(the direct handlers write their metrics to stdout as on Lambda; those ${metricLines()} EMF lines are left out of this output)\n`);
    console.log(table(rows));
    for (const concurrency of [1, CONCURRENCY]) {
      const d = rows.find((r) => r.mode === 'direct handler' && r.concurrency === concurrency)!;
      const r = rows.find((r) => r.mode === 'raw LDAP bound' && r.concurrency === concurrency)!;
      console.log(`direct / raw LDAP at p50, concurrency ${concurrency}: ${(d.p50 / r.p50).toFixed(2)}× (target ≤ 1.5×)`);
    }
    console.log(`\nCertificates — GET /api/authprinc?username=&host=&fingerprint=&serial= (${principalRequests.length} requests per row, a certificate on each user) and GET /api/krlca (${KRL_REQUESTS} per row) with ${REVOCATIONS} revocations\n`);
    console.log(table(certRows));
    await offline.stop();
    offline = undefined;
    await benchLists({ url: directory.url, bind, baseDN: BASE_DN, env, seededUsers: USERS, adminPassword: 'keyper-admin', sortedViews: restartWithSortedViews });
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
};

// ---- function bundles, then the rest ----

const run = async (): Promise<void> => {
  if (!process.argv.includes('--lists-only')) await benchBundles();
  if (!process.argv.includes('--bundles-only')) await main();
};

run().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
