// Lists of users, groups and hosts, handlers invoked directly: the whole list as one array, pages
// (?limit=, ?cursor=) in the directory's own name order that a walk sees every entry of exactly
// once while others add and delete, ?q= by prefix (escaped), refusals of bad parameters and of
// lists too large to send; paging through a directory with sorted views (sssvlv); and, on private
// directories, that every search is indexed and that a directory refusing a search is reported.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as createGroup } from '../../functions/groups/create.js';
import { handler as deleteGroup } from '../../functions/groups/delete.js';
import { handler as listGroups } from '../../functions/groups/list.js';
import { handler as updateGroup } from '../../functions/groups/update.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as listHosts } from '../../functions/hosts/list.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as listUsers } from '../../functions/users/list.js';
import { handler as authkeys } from '../../functions/public/authkeys.js';
import { reloadConfig } from '../../lib/config.js';
import { withDirectory } from '../../lib/directory.js';
import { USER_OBJECT_CLASSES } from '../../lib/layout.js';
import { nameKey, readAll } from '../../lib/listing.js';
import { USER_LIST } from '../../lib/users.js';
import { startDirectory, type RunningDirectory } from '../../scripts/directory.js';
import { freePort } from '../../scripts/ports.js';
import { ADMIN_PASSWORD, baseDN, env, groupDN, invoke, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';
import { captureLines } from '../log-lines.js';

type Handler = Parameters<typeof invoke>[0];
interface Named {
  cn: string;
  dn: string;
}

let admin: string;

const list = (handler: Handler, route: string, query?: Record<string, string>, token = admin): Promise<Reply> =>
  invoke(handler, { method: 'GET', route, token, ...(query === undefined ? {} : { query }) });

/** The `cursor` and other parameters of a Link header's next page (relative to the request path). */
const nextOf = (reply: Reply, route: string): Record<string, string> | undefined => {
  const link = reply.headers.link;
  if (link === undefined) return undefined;
  const match = /^<([^>]+)>; rel="next"$/.exec(link);
  expect(match, link).not.toBeNull();
  const url = new URL(match![1]!, 'http://api.example');
  expect(url.pathname).toBe(route);
  return Object.fromEntries(url.searchParams);
};

/** Every page of a list, following Link headers; each page checked to be an array of at most `limit`. */
const walk = async (handler: Handler, route: string, limit: number, extra: Record<string, string> = {}, token = admin): Promise<{ names: string[]; pages: number }> => {
  const names: string[] = [];
  let query: Record<string, string> | undefined = { limit: String(limit), ...extra };
  let pages = 0;
  while (query !== undefined) {
    const reply = await list(handler, route, query, token);
    expect(reply.status, reply.text).toBe(200);
    expect(Array.isArray(reply.body)).toBe(true);
    const page = reply.body as Named[];
    expect(page.length).toBeLessThanOrEqual(limit);
    names.push(...page.map((item) => item.cn));
    query = nextOf(reply, route);
    if (query !== undefined) expect(query).toMatchObject({ limit: String(limit), ...extra });
    pages += 1;
    expect(pages).toBeLessThan(10_000);
  }
  return { names, pages };
};

const sortedByName = (names: string[]): string[] => [...names].sort((a, b) => (nameKey(a) < nameKey(b) ? -1 : nameKey(a) > nameKey(b) ? 1 : 0));

/** Adds users straight to the directory (fast), with a display name and mail for ?q=. */
const addUsers = (names: string[]): Promise<void> =>
  withManager(async (client) => {
    for (const cn of names) {
      await client.add(userDN(cn), {
        objectClass: USER_OBJECT_CLASSES,
        cn, uid: cn, sn: 'List', givenName: cn, displayName: `Display ${cn}`, mail: `${cn}@mail.example.org`, pwdAttribute: 'userPassword',
      });
    }
  });

const deleteEntries = (dns: string[]): Promise<void> =>
  withManager(async (client) => {
    for (const dn of dns) await client.del(dn).catch(() => undefined);
  });

const prefix = uniqueName('ls');
/** Group names whose order differs between folding case to lower (slapd) and to upper. */
const GROUP_NAMES = ['a_b', 'aZ', 'A-b', 'a.B', 'a0', 'Ab', 'a_', 'AA', 'b_', 'B9', 'zz', 'Z_'].map((n) => `${prefix}${n}`);
const USER_NAMES = Array.from({ length: 23 }, (_, i) => `${prefix}u${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  await addUsers(USER_NAMES);
  for (const cn of GROUP_NAMES) {
    const reply = await invoke(createGroup, { method: 'POST', route: '/api/groups', token: admin, json: { cn } });
    expect(reply.status, reply.text).toBe(201);
  }
});

afterAll(async () => {
  await deleteEntries([...USER_NAMES.map(userDN), ...GROUP_NAMES.map(groupDN)]);
});

describe('whole lists (Keyper\'s console)', () => {
  it('are one array in name order, without a Link', async () => {
    for (const [handler, route] of [[listUsers, '/api/users'], [listGroups, '/api/groups'], [listHosts, '/api/hosts']] as const) {
      const reply = await list(handler, route);
      expect(reply.status).toBe(200);
      expect(reply.headers).not.toHaveProperty('link');
      const names = (reply.body as Named[]).map((item) => item.cn);
      expect(names).toEqual(sortedByName(names));
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('are refused with a 400 asking for pages before they grow past what Lambda can send', async () => {
    // The same read with a budget of 2 KB: refused as soon as the JSON passes it.
    const refused = await withDirectory((client) => readAll(client, USER_LIST, baseDN(), undefined, 2048)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ statusCode: 400 });
    expect((refused as { body: { msg: string } }).body.msg).toMatch(/limit=/);
  });
});

describe('pages', () => {
  it('walk the whole list in the same order, at every page size', async () => {
    for (const [handler, route] of [[listUsers, '/api/users'], [listGroups, '/api/groups'], [listHosts, '/api/hosts']] as const) {
      const whole = ((await list(handler, route)).body as Named[]).map((item) => item.cn);
      for (const limit of [1, 2, 7, 1000]) {
        const { names, pages } = await walk(handler, route, limit);
        expect(names).toEqual(whole);
        expect(pages).toBe(Math.max(1, Math.ceil(whole.length / limit)));
      }
    }
  });

  it('follow the directory\'s order of names (mixed case, _ . - and digits): none skipped, none twice', async () => {
    // The cursor's filter is evaluated by slapd, the order of a page here: a disagreement between
    // the two would skip or repeat names at page boundaries.
    const ours = (await walk(listGroups, '/api/groups', 1, { q: prefix })).names;
    expect(ours).toEqual(sortedByName(GROUP_NAMES));
    expect(ours.indexOf(`${prefix}a_b`)).toBeLessThan(ours.indexOf(`${prefix}aZ`));
    const whole = ((await list(listGroups, '/api/groups', { q: prefix })).body as Named[]).map((g) => g.cn);
    expect(whole).toEqual(ours);
  });

  it('filter by a prefix of name, display name or mail, case-insensitively, with filter characters taken literally', async () => {
    const byName = (await walk(listUsers, '/api/users', 5, { q: `${prefix}u1` })).names;
    expect(byName).toEqual(USER_NAMES.filter((n) => n.startsWith(`${prefix}u1`)));
    const byDisplay = (await list(listUsers, '/api/users', { q: `display ${prefix.toUpperCase()}u0` })).body as Named[];
    expect(byDisplay.map((u) => u.cn)).toEqual(USER_NAMES.filter((n) => n.startsWith(`${prefix}u0`)));
    const byMail = (await list(listUsers, '/api/users', { q: `${prefix}u22@mail` })).body as Named[];
    expect(byMail.map((u) => u.cn)).toEqual([`${prefix}u22`]);
    for (const q of ['*', `${prefix}*`, '*)(cn=*', '\\', `${prefix}u0)(|(cn=*`]) {
      const reply = await list(listUsers, '/api/users', { q, limit: '50' });
      expect(reply.status, q).toBe(200);
      expect(reply.body, q).toEqual([]);
    }
  });

  it('refuse bad parameters with a 400 that names them', async () => {
    for (const query of [{ limit: '0' }, { limit: '1001' }, { limit: 'ten' }, { cursor: 'nonsense' }, { q: 'x'.repeat(101) }] as Record<string, string>[]) {
      const reply = await list(listUsers, '/api/users', query);
      expect(reply.status, JSON.stringify(query)).toBe(400);
      expect(Object.keys((reply.body as { errors: object }).errors)).toEqual(Object.keys(query));
    }
    // A cursor of the groups list is not one of the users list.
    const groups = await list(listGroups, '/api/groups', { limit: '1' });
    const reply = await list(listUsers, '/api/users', { limit: '1', cursor: nextOf(groups, '/api/groups')!.cursor! });
    expect(reply.status).toBe(400);
  });

  it('are for admins only', async () => {
    const alice = await tokenOf('alice', 'alice-demo');
    expect((await list(listUsers, '/api/users', { limit: '1' }, alice)).status).toBe(403);
  });

  it('see every user present throughout a walk exactly once while others add and delete users (20 walks)', async () => {
    const race = uniqueName('rw');
    const stable = Array.from({ length: 30 }, (_, i) => `${race}s${String(i).padStart(2, '0')}`);
    await addUsers(stable);
    const touched: string[] = [];
    try {
      for (let round = 0; round < 20; round += 1) {
        // Users come and go at names before, between and after the stable ones.
        const doomed = Array.from({ length: 6 }, (_, i) => `${race}${round}d${i}`);
        await addUsers(doomed);
        touched.push(...doomed);
        let walking = true;
        const churn = (async () => {
          for (let i = 0; walking && i < 200; i += 1) {
            const cn = `${race}s${String(i % 31).padStart(2, '0')}x${round}`;
            touched.push(cn);
            const created = await invoke(createUser, {
              method: 'POST', route: '/api/users', token: admin,
              json: { cn, givenName: 'R', sn: 'W', userPassword: 'race-walk-1', confirmPassword: 'race-walk-1', duration: 1, durationUnit: 'Days' },
            });
            expect(created.status, created.text).toBe(201);
            const victim = doomed[i % doomed.length]!;
            await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: victim }, token: admin });
          }
        })();
        const { names } = await walk(listUsers, '/api/users', 4, { q: race }).finally(() => (walking = false));
        await churn;
        expect(names.filter((n) => stable.includes(n))).toEqual(stable);
        expect(new Set(names).size).toBe(names.length);
      }
    } finally {
      await deleteEntries([...stable, ...touched].map(userDN));
    }
  });
});

// ---- private directories: sorted views, index coverage, a directory that refuses searches ----

interface Private {
  directory: RunningDirectory;
  dataDir: string;
  url: string;
}

const startPrivate = async (options: { sortedViews?: boolean; debugLevel?: 'filter' | 'stats'; databaseConfig?: string[] }): Promise<Private> => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-lists-'));
  const directory = await startDirectory({
    dataDir, port: await freePort(), baseDN: baseDN(), bindDN: env().LDAP_BIND_DN!, bindPassword: env().LDAP_BIND_PASSWORD!, adminPassword: ADMIN_PASSWORD, reset: true, ...options,
  });
  return { directory, dataDir, url: directory.url };
};

const stopPrivate = async (p: Private | undefined): Promise<void> => {
  await p?.directory.stop();
  if (p !== undefined) await rm(p.dataDir, { recursive: true, force: true });
};

/** Runs `work` with the handlers pointed at another directory (and service account), then back. */
const against = async <T>(settings: Record<string, string>, work: () => Promise<T>): Promise<T> => {
  const saved = Object.fromEntries(Object.keys(settings).map((key) => [key, process.env[key]]));
  Object.assign(process.env, settings);
  reloadConfig();
  try {
    return await work();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    reloadConfig();
  }
};

const slapdLog = (p: Private): Promise<string> => readFile(path.join(p.dataDir, 'slapd.log'), 'utf8');

describe('a directory with sorted views (sssvlv)', () => {
  let views: Private | undefined;
  beforeAll(async () => {
    views = await startPrivate({ sortedViews: true, debugLevel: 'stats' });
  });
  afterAll(() => stopPrivate(views));

  it('pages with one search per page, in the same order as without, while users come and go', async () => {
    await against({ LDAP_URL: views!.url }, async () => {
      const token = await tokenOf('admin', ADMIN_PASSWORD);
      const names = Array.from({ length: 40 }, (_, i) => `v${String(i).padStart(2, '0')}`);
      await withLocal(views!.url, (client) => addAll(client, names));
      const whole = ((await list(listUsers, '/api/users', undefined, token)).body as Named[]).map((u) => u.cn);
      const before = (await slapdLog(views!)).length;
      for (const limit of [1, 3, 40]) expect((await walk(listUsers, '/api/users', limit, {}, token)).names).toEqual(whole);
      for (let round = 0; round < 20; round += 1) {
        let walking = true;
        const churn = withLocal(views!.url, async (client) => {
          for (let i = 0; walking && i < 100; i += 1) {
            await addAll(client, [`v${String(i % 41).padStart(2, '0')}y${round}`]);
            await client.del(userDN(`v${String(i % 41).padStart(2, '0')}y${round}`)).catch(() => undefined);
          }
        });
        const seen = (await walk(listUsers, '/api/users', 3, {}, token).finally(() => (walking = false))).names;
        await churn;
        expect(seen.filter((n) => names.includes(n))).toEqual(names);
        expect(new Set(seen).size).toBe(seen.length);
      }
      // The fallback's ordering filter never reached the directory: every page was a sorted view.
      const searches = (await slapdLog(views!)).slice(before);
      expect(searches).toMatch(/SRCH base="ou=people/);
      expect(searches).not.toMatch(/caseIgnoreOrderingMatch/);
    });
  });
});

describe('indexes', () => {
  let traced: Private | undefined;
  afterAll(() => stopPrivate(traced));

  it('serve every search the service makes (slapd logs none as "not indexed")', async () => {
    traced = await startPrivate({ debugLevel: 'filter' });
    await against({ LDAP_URL: traced.url }, async () => {
      const token = await tokenOf('admin', ADMIN_PASSWORD);
      const users = Array.from({ length: 70 }, (_, i) => `ix${i}`);
      await withLocal(traced!.url, (client) => addAll(client, users));
      const people = users.map(userDN);
      const ok = (reply: Reply) => expect(reply.status, reply.text).toBeLessThan(300);
      ok(await invoke(createGroup, { method: 'POST', route: '/api/groups', token, json: { cn: 'ixg', members: people.slice(0, 3) } }));
      ok(await invoke(updateGroup, { method: 'PUT', route: '/api/groups/{name}', pathParameters: { name: 'ixg' }, token, json: { members: people } }));
      ok(await invoke(createHost, { method: 'POST', route: '/api/hosts', token, json: { cn: 'ixh', owners: people.slice(0, 2) } }));
      ok(await invoke(createUser, {
        method: 'POST', route: '/api/users', token,
        json: { cn: 'ixnew', givenName: 'I', sn: 'X', userPassword: 'index-test-1', confirmPassword: 'index-test-1', duration: 1, durationUnit: 'Days', memberOfs: [groupDN('ixg')], principal: ['ixp'] },
      }));
      for (const [handler, route] of [[listUsers, '/api/users'], [listGroups, '/api/groups'], [listHosts, '/api/hosts']] as const) {
        ok(await list(handler, route, undefined, token));
        await walk(handler, route, 25, {}, token);
        await walk(handler, route, 25, { q: 'ix' }, token);
      }
      ok(await invoke(authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'ixp', host: 'ixh' } }));
      ok(await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: 'ix0' }, token }));
      ok(await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name: 'ixh' }, token }));
      ok(await invoke(deleteGroup, { method: 'DELETE', route: '/api/groups/{name}', pathParameters: { name: 'ixg' }, token }));
    });
    const log = await slapdLog(traced);
    // The log is at filter level, where slapd reports unindexed searches.
    expect(log).toMatch(/=> test_filter/);
    expect(log.split('\n').filter((line) => /not indexed/.test(line))).toEqual([]);
  });
});

describe('a directory with limits on its service account', () => {
  let limited: Private | undefined;
  const reader = `cn=reader,${baseDN()}`;
  const sized = `cn=sized,${baseDN()}`;
  beforeAll(async () => {
    limited = await startPrivate({
      databaseConfig: [
        `access to * by dn.exact="${reader}" read by dn.exact="${sized}" read by * break`,
        `limits dn.exact="${reader}" size.unchecked=2`,
        // Two entries per search, any number through paged results.
        `limits dn.exact="${sized}" size.soft=2 size.hard=2 size.prtotal=unlimited`,
      ],
    });
    await withLocal(limited.url, async (client) => {
      for (const dn of [reader, sized]) {
        await client.add(dn, { objectClass: ['top', 'applicationProcess', 'simpleSecurityObject'], cn: dn.slice(3, dn.indexOf(',')), userPassword: 'reader-password' });
      }
      await addAll(client, ['s1', 's2', 's3', 's4', 's5']);
    });
  });
  afterAll(() => stopPrivate(limited));

  it('that caps entries per search still lists and pages everything (paged reads)', async () => {
    await against({ LDAP_URL: limited!.url, LDAP_BIND_DN: sized, LDAP_BIND_PASSWORD: 'reader-password' }, async () => {
      const token = await tokenOf('admin', ADMIN_PASSWORD);
      const whole = ((await list(listUsers, '/api/users', undefined, token)).body as Named[]).map((u) => u.cn);
      expect(whole).toEqual(['admin', 'alice', 'bob', 's1', 's2', 's3', 's4', 's5']);
      expect((await walk(listUsers, '/api/users', 3, {}, token)).names).toEqual(whole);
    });
  });

  it('that refuses searches over too many unchecked entries: 503, and a warning once per cold start', async () => {
    const written = captureLines();
    try {
      await against({ LDAP_URL: limited!.url, LDAP_BIND_DN: reader, LDAP_BIND_PASSWORD: 'reader-password', LOG_LEVEL: 'warn' }, async () => {
        const token = await tokenOf('admin', ADMIN_PASSWORD);
        for (let i = 0; i < 3; i += 1) {
          const reply = await list(listUsers, '/api/users', undefined, token);
          expect(reply.status, reply.text).toBe(503);
          expect((reply.body as { msg: string }).msg).toMatch(/refused the search/);
        }
      });
      const lines = written.filter((line) => String(line.message).includes('adminLimitExceeded'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'WARN', message: expect.stringMatching(/index/) });
    } finally {
      vi.restoreAllMocks();
    }
  });
});

// ---- helpers for private directories ----

const withLocal = async <T>(url: string, work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ url, timeout: 10_000, connectTimeout: 2_000 });
  await client.bind(env().LDAP_BIND_DN!, env().LDAP_BIND_PASSWORD!);
  try {
    return await work(client);
  } finally {
    await client.unbind();
  }
};

const addAll = async (client: Client, names: string[]): Promise<void> => {
  for (const cn of names) {
    await client.add(userDN(cn), { objectClass: USER_OBJECT_CLASSES, cn, uid: cn, sn: 'V', pwdAttribute: 'userPassword' });
  }
};
