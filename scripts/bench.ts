// `npm run bench`: latency and throughput of /api/authkeys, the request sshd makes at every login.
// Starts its own private slapd (temp dir, free port, demo data) and serverless-offline, seeds
// 1,000 users × 2 keys and 50 hosts straight into the directory, then measures the same requests
// (a) over HTTP through serverless-offline, (b) by invoking the handler directly and (c) as the
// raw LDAP lower bound (connect, bind, the handler's two searches, unbind with ldapts), each one
// at a time and 10 at a time. Then the lists (scripts/bench-lists.ts: users at 1,000 and 20,000,
// a 20,000-member group); `npm run bench -- --lists-only` runs only those. Prints tables; asserts
// nothing; cleans up after itself.
// First, before any server runs: the size and cold import of every function's bundle
// (scripts/bundles.ts); `npm run bench -- --bundles-only` prints those rows alone.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { Attribute, Change, Client } from 'ldapts';
import { HOST_FACT_ATTRIBUTES, USER_FACT_ATTRIBUTES, userLookupFilter } from '../lib/authkeys.js';
import { reloadConfig } from '../lib/config.js';
import { containerDN, entityDN } from '../lib/dn.js';
import { expiryAfter, keyValue } from '../lib/keys.js';
import { parsePublicKey } from '../lib/sshkeys.js';
import { USER_OBJECT_CLASSES } from '../lib/users.js';
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
    await client.add(dn, { objectClass: ['top', 'device', 'ldapPublicKey', 'extensibleObject'], cn: hostName(i), info: '{"duration": 1, "durationUnit": "Days"}' });
    await client.add(entityDN('group', hostName(i), BASE_DN), { objectClass: ['top', 'groupOfNames'], cn: hostName(i), member: [dn] });
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

/** The lower bound: what any implementation must do over LDAP, and nothing else. */
const rawLdap = (url: string, bind: { dn: string; password: string }): Ask => async (r) => {
  const client = new Client({ url, timeout: 5_000, connectTimeout: 3_000, strictDN: true });
  try {
    await client.bind(bind.dn, bind.password);
    const [users, host] = await Promise.all([
      client.search(containerDN('user', BASE_DN), { scope: 'one', filter: userLookupFilter(r.username), attributes: USER_FACT_ATTRIBUTES }),
      client.search(entityDN('host', r.host, BASE_DN), { scope: 'base', attributes: HOST_FACT_ATTRIBUTES }),
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
const drive = async (ask: Ask, requests: Request[], concurrency: number, check: (r: Request, answer: string) => boolean): Promise<{ latencies: number[]; ok: number }> => {
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

    // Direct and raw first, while serverless-offline is not running (it would share the 2 cores).
    const rows: Figures[] = [];
    const inProcess: Mode[] = [
      { name: 'raw LDAP bound', ask: raw, check: foundBoth },
      { name: 'direct handler', ask: direct, check: hasKey },
    ];
    for (const concurrency of [1, CONCURRENCY]) rows.push(...(await measure(inProcess, requests, concurrency, 10)));

    offline = await startOffline(env);
    const { apiUrl } = offline;
    console.log(`bench: serverless-offline on ${apiUrl}`);
    const overOffline: Mode[] = [{ name: 'HTTP (serverless-offline)', ask: overHttp(apiUrl), check: hasKey }];
    for (const concurrency of [1, CONCURRENCY]) rows.push(...(await measure(overOffline, requests, concurrency, 1)));

    rows.sort((a, b) => a.concurrency - b.concurrency);
    console.log(`\nGET /api/authkeys?username=&host=&fingerprint= — ${REQUESTS} requests per row (after ${WARMUP} warm-up), ${USERS} users × 2 keys, ${HOSTS} hosts\n`);
    console.log(table(rows));
    for (const concurrency of [1, CONCURRENCY]) {
      const d = rows.find((r) => r.mode === 'direct handler' && r.concurrency === concurrency)!;
      const r = rows.find((r) => r.mode === 'raw LDAP bound' && r.concurrency === concurrency)!;
      console.log(`direct / raw LDAP at p50, concurrency ${concurrency}: ${(d.p50 / r.p50).toFixed(2)}× (target ≤ 1.5×)`);
    }
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
