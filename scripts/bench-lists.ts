// `npm run bench`, lists section: GET /api/users at 1,000 and at 20,000 users (the full list,
// the full list compressed, a page of 100 at the start and in the middle of a walk) and a PUT of
// the full member list of a 20,000-member group (one member gained, then lost). What Lambda sees:
// each handler is bundled as serverless-esbuild bundles it and run in a fresh node process of its
// own (scripts/bench-invoke.mjs), invoked directly; warm p50 and that process's peak RSS.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Attribute, Change, Client } from 'ldapts';
import { entityDN } from '../lib/dn.js';
import { GROUP_OBJECT_CLASSES, USER_OBJECT_CLASSES } from '../lib/layout.js';
import { encodeCursor } from '../lib/listing.js';
import { expiryAfter, keyValue } from '../lib/keys.js';
import { parsePublicKey } from '../lib/sshkeys.js';
import { buildBundles } from './bundles.js';
import { ed25519Line } from './sshkey-lines.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const LARGE = 20_000;
const PAGE = 100;
const BIG_GROUP = 'bench-big';
/** What a browser sends (Keyper's console runs in one). */
const BROWSER_ENCODINGS = 'gzip, deflate, br, zstd';

export interface ListBenchSetup {
  url: string;
  bind: { dn: string; password: string };
  baseDN: string;
  /** The environment the handlers read (LDAP_*, JWT_SECRET, LOG_LEVEL). */
  env: Record<string, string>;
  /** Users bu0..bu<n-1> the caller seeded already. */
  seededUsers: number;
  adminPassword: string;
  /** Restarts the directory on the same data with server-side sorting and virtual list views. */
  sortedViews: () => Promise<void>;
}

// ---- seeding: bu<n> users with two keys each, added through the running server ----

const userName = (i: number): string => `bu${i}`;

/** Adds users bu<from>..bu<to-1> (two keys each), 8 connections in parallel. */
const seedUsers = async (setup: ListBenchSetup, from: number, to: number): Promise<void> => {
  const dateExpire = expiryAfter(new Date(), { duration: 30, durationUnit: 'Days' });
  let next = from;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const client = new Client({ url: setup.url, timeout: 30_000, connectTimeout: 5_000 });
      await client.bind(setup.bind.dn, setup.bind.password);
      try {
        while (next < to) {
          const i = next++;
          const keys = [`${userName(i)}@laptop`, `${userName(i)}@desk`].map((comment, keyid) => {
            const line = ed25519Line(comment);
            return keyValue({ name: `key ${keyid}`, key: line, fingerprint: parsePublicKey(line).fingerprint, hostGroups: [] }, keyid, dateExpire);
          });
          await client.add(entityDN('user', userName(i), setup.baseDN), {
            objectClass: USER_OBJECT_CLASSES,
            cn: userName(i),
            uid: userName(i),
            sn: 'Bench',
            givenName: `User ${i}`,
            displayName: `User ${i} Bench`,
            mail: `${userName(i)}@bench.example.org`,
            pwdAttribute: 'userPassword',
            info: '{"duration": 30, "durationUnit": "Days"}',
            sshPublicKey: keys,
          });
        }
      } finally {
        await client.unbind();
      }
    }),
  );
};

/** A group holding bu0..bu<count-1>, created with all its members in one add (memberof sets memberOf). */
const seedBigGroup = async (setup: ListBenchSetup, count: number): Promise<string[]> => {
  const members = Array.from({ length: count }, (_, i) => entityDN('user', userName(i), setup.baseDN));
  const client = new Client({ url: setup.url, timeout: 300_000, connectTimeout: 5_000 });
  await client.bind(setup.bind.dn, setup.bind.password);
  try {
    const dn = entityDN('group', BIG_GROUP, setup.baseDN);
    await client.add(dn, { objectClass: GROUP_OBJECT_CLASSES, cn: BIG_GROUP, member: members.slice(0, 1) });
    // In slices: one modify of 20,000 values makes memberof write 20,000 entries in one operation.
    for (let i = 1; i < members.length; i += 2_000) {
      await client.modify(dn, [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: members.slice(i, i + 2_000) }) })]);
    }
  } finally {
    await client.unbind();
  }
  return members;
};

// ---- bundles and child processes ----

/** The bundles of these functions of serverless.yml, built as `serverless package` builds them, in order. */
const bundles = async (outDir: string, names: string[]): Promise<string[]> => {
  const built = await buildBundles(outDir, names);
  return names.map((name) => {
    const found = built.find((b) => b.name === name);
    if (found === undefined) throw new Error(`bench: no function ${name} in serverless.yml`);
    return found.file;
  });
};

interface Answer {
  status: number;
  encoding: string;
  link?: string;
  payloadBytes: number;
  p50: number;
  body?: string;
}

interface ChildResult {
  events: Answer[];
  maxRssMB: number;
}

/** provider.memorySize in serverless.yml. */
const MEMORY_MB = 256;
/**
 * The node flags Lambda's Node.js bootstrap derives from the function's memory (new space a tenth,
 * half of it per semi-space, old space the rest): without them V8 sizes its heap for this machine
 * and lets garbage grow far beyond what Lambda would. Deployed functions have no NODE_OPTIONS of
 * their own (nodeOptions of local/stages/deployed.yml).
 */
const LAMBDA_NODE_FLAGS = [`--max-semi-space-size=${Math.floor(MEMORY_MB / 10 / 2)}`, `--max-old-space-size=${MEMORY_MB - Math.floor(MEMORY_MB / 10)}`];

/** Runs events through a bundle in a fresh node process, with Lambda's node flags. */
const inChild = async (setup: ListBenchSetup, workDir: string, bundlePath: string, events: APIGatewayProxyEventV2[], runs: number, keepBody = false): Promise<ChildResult> => {
  const specFile = path.join(workDir, `spec-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(specFile, JSON.stringify({ bundle: bundlePath, events, warmup: 3, runs, keepBody }));
  const child = spawn(process.execPath, [...LAMBDA_NODE_FLAGS, path.join(repoRoot, 'scripts/bench-invoke.mjs'), specFile], {
    env: { PATH: process.env.PATH ?? '', ...setup.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench child for ${bundlePath} exited with ${code}: ${out}`);
  // The result is the last line; before it, the handler's EMF metric lines (written as on Lambda), left out.
  const last = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as ChildResult;
};

const event = (method: string, route: string, token: string, options: { path?: string; query?: Record<string, string>; headers?: Record<string, string>; body?: unknown; name?: string } = {}): APIGatewayProxyEventV2 => {
  const rawPath = options.path ?? route;
  return {
    version: '2.0',
    routeKey: `${method} ${route}`,
    rawPath,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers: { authorization: `Bearer ${token}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    ...(options.query === undefined ? {} : { queryStringParameters: options.query }),
    ...(options.name === undefined ? {} : { pathParameters: { name: options.name } }),
    requestContext: { http: { method, path: rawPath }, requestId: 'bench', routeKey: `${method} ${route}` },
    isBase64Encoded: false,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  } as unknown as APIGatewayProxyEventV2;
};

// ---- the rows ----

interface Row {
  what: string;
  users: number;
  p50: number;
  maxRssMB: number;
  answer: Answer;
}

const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(2);

const table = (rows: Row[]): string => {
  const header = ['request', 'users', 'p50 ms', 'peak RSS MB', 'status', 'encoding', 'response MB (as Lambda returns it)'];
  const cells = rows.map((r) => [r.what, String(r.users), r.p50.toFixed(1), r.maxRssMB.toFixed(0), String(r.answer.status), r.answer.encoding, mb(r.answer.payloadBytes)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
};

/** Pages through sorted views (the directory restarted with sssvlv), first and in the middle. */
const viewRows = async (setup: ListBenchSetup, workDir: string, listBundle: string, token: string, users: number, runs: number): Promise<Row[]> => {
  const middle = Array.from({ length: users }, (_, i) => userName(i)).sort()[Math.floor(users / 2)]!;
  const list = (query: Record<string, string>) => event('GET', '/api/users', token, { query });
  const rows: Row[] = [];
  for (const [what, query] of [
    [`GET /api/users?limit=${PAGE} (first page), sorted views`, { limit: String(PAGE) }],
    [`GET /api/users?limit=${PAGE}&cursor= (a page from ${middle}), sorted views`, { limit: String(PAGE), cursor: encodeCursor('user', middle) }],
  ] as const) {
    const result = await inChild(setup, workDir, listBundle, [list(query)], runs);
    rows.push({ what, users, p50: result.events[0]!.p50, maxRssMB: result.maxRssMB, answer: result.events[0]! });
  }
  return rows;
};

const listRows = async (setup: ListBenchSetup, workDir: string, listBundle: string, token: string, users: number, runs: number): Promise<Row[]> => {
  const list = (query?: Record<string, string>, headers?: Record<string, string>) => event('GET', '/api/users', token, { ...(query ? { query } : {}), ...(headers ? { headers } : {}) });
  // The cursor of a page in the middle of a walk (names sort as strings: bu0, bu1, bu10, ...).
  const middle = Array.from({ length: users }, (_, i) => userName(i)).sort()[Math.floor(users / 2)]!;
  const cases: { what: string; event: APIGatewayProxyEventV2 }[] = [
    { what: 'GET /api/users (full)', event: list() },
    { what: `GET /api/users (full), Accept-Encoding: ${BROWSER_ENCODINGS}`, event: list(undefined, { 'accept-encoding': BROWSER_ENCODINGS }) },
    { what: `GET /api/users?limit=${PAGE} (first page)`, event: list({ limit: String(PAGE) }) },
    { what: `GET /api/users?limit=${PAGE}&cursor= (a page from ${middle})`, event: list({ limit: String(PAGE), cursor: encodeCursor('user', middle) }) },
  ];
  const rows: Row[] = [];
  for (const c of cases) {
    const result = await inChild(setup, workDir, listBundle, [c.event], runs);
    const answer = result.events[0]!;
    rows.push({ what: c.what, users, p50: answer.p50, maxRssMB: result.maxRssMB, answer });
  }
  return rows;
};

const groupRows = async (setup: ListBenchSetup, workDir: string, token: string, members: string[], runs: number): Promise<Row[]> => {
  const [getBundle, updateBundle] = (await bundles(workDir, ['getGroup', 'updateGroup'])) as [string, string];
  const route = '/api/groups/{name}';
  const options = { path: `/api/groups/${BIG_GROUP}`, name: BIG_GROUP };
  const read = await inChild(setup, workDir, getBundle, [event('GET', route, token, { ...options, headers: { 'accept-encoding': BROWSER_ENCODINGS } })], runs);
  const extra = entityDN('user', 'admin', setup.baseDN);
  const gain = event('PUT', route, token, { ...options, body: { members: [...members, extra] } });
  const lose = event('PUT', route, token, { ...options, body: { members } });
  const update = await inChild(setup, workDir, updateBundle, [gain, lose], runs);
  return [
    { what: `GET /api/groups/${BIG_GROUP}, Accept-Encoding: ${BROWSER_ENCODINGS}`, users: members.length, p50: read.events[0]!.p50, maxRssMB: read.maxRssMB, answer: read.events[0]! },
    { what: `PUT /api/groups/${BIG_GROUP} (full list, one member gained)`, users: members.length, p50: update.events[0]!.p50, maxRssMB: update.maxRssMB, answer: update.events[0]! },
    { what: `PUT /api/groups/${BIG_GROUP} (full list, one member lost)`, users: members.length, p50: update.events[1]!.p50, maxRssMB: update.maxRssMB, answer: update.events[1]! },
  ];
};

/** Logs in as admin through the (unbundled) login handler: the token the list requests carry. */
const adminToken = async (setup: ListBenchSetup): Promise<string> => {
  const { handler } = await import('../functions/auth/login.js');
  const result = await handler(
    { ...event('POST', '/api/login', '', { body: { username: 'admin', password: setup.adminPassword } }), headers: { 'content-type': 'application/json' } },
    { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10_000 } as never,
  );
  if (result.statusCode !== 200) throw new Error(`bench: admin login failed (${result.statusCode}): ${result.body}`);
  return (JSON.parse(result.body ?? '{}') as { access_token: string }).access_token;
};

/** Seeds up to 20,000 users, measures, prints the tables. */
export const benchLists = async (setup: ListBenchSetup): Promise<void> => {
  const workDir = await mkdtemp(path.join(tmpdir(), 'keyper-bench-lists-'));
  try {
    const [listBundle] = (await bundles(workDir, ['listUsers'])) as [string];
    const token = await adminToken(setup);
    const rows: Row[] = [];
    rows.push(...(await listRows(setup, workDir, listBundle, token, setup.seededUsers, 20)));

    const t0 = performance.now();
    await seedUsers(setup, setup.seededUsers, LARGE);
    console.log(`bench: seeded users up to ${LARGE} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    rows.push(...(await listRows(setup, workDir, listBundle, token, LARGE, 5)));

    await setup.sortedViews();
    rows.push(...(await viewRows(setup, workDir, listBundle, token, LARGE, 5)));

    const t1 = performance.now();
    const members = await seedBigGroup(setup, LARGE);
    console.log(`bench: group ${BIG_GROUP} with ${LARGE} members in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    const groups = await groupRows(setup, workDir, token, members, 5);

    console.log(`\nLists — each row a fresh node process (${LAMBDA_NODE_FLAGS.join(' ')}, as Lambda runs a ${MEMORY_MB} MB function) running the esbuild bundle, invoked directly; p50 of warm invocations (result serialisation included); peak RSS of that process. A 400 is the refusal of a response over Lambda's 6 MB.\n`);
    console.log(table(rows));
    console.log(`\nA group of ${LARGE} members\n`);
    console.log(table(groups));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
};
