// Large directories end to end over HTTP (serverless-offline → handlers → slapd), with a few
// thousand users: the whole list compressed (really gzip and brotli on the wire, decoded here) and
// plain; a walk through all pages while other requests add and delete users, seeing every user
// present throughout exactly once; and a group of all of them that gains and loses a member.
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, apiUrl, directoryUrl, env, groupDN, http, login, uniqueName, userDN, type Reply } from '../helpers.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';

const USERS = 2_500;
const prefix = uniqueName('big');
const names = Array.from({ length: USERS }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
let admin = '';

interface Named {
  cn: string;
  dn: string;
}

/** Runs `work` over items on `parallel` connections bound as the service account. */
const inParallel = async <T>(items: T[], parallel: number, work: (client: Client, item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      const client = new Client({ url: directoryUrl(), timeout: 30_000, connectTimeout: 2_000 });
      await client.bind(env().LDAP_BIND_DN!, env().LDAP_BIND_PASSWORD!);
      try {
        while (next < items.length) await work(client, items[next++]!);
      } finally {
        await client.unbind();
      }
    }),
  );
};

/** GET with the raw bytes of the answer (fetch would decode them itself). */
const raw = (path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
  new Promise((resolve, reject) => {
    const req = request(`${apiUrl()}${path}`, { headers: { authorization: `Bearer ${admin}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });

beforeAll(async () => {
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;
  await inParallel(names, 6, (client, cn) =>
    client.add(userDN(cn), {
      objectClass: ['top', 'inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject'],
      cn, uid: cn, sn: 'Big', givenName: cn, mail: `${cn}@big.example.org`, pwdAttribute: 'userPassword',
      info: '{"duration": 30, "durationUnit": "Days"}',
      sshPublicKey: JSON.stringify({ name: 'laptop', key: ed25519Line(cn), keyid: 0, keytype: 0, hostGroups: [], dateExpire: '20991231000000' }),
    }),
  );
}, 300_000);

afterAll(async () => {
  await inParallel(names, 6, (client, cn) => client.del(userDN(cn)).catch(() => undefined));
}, 300_000);

describe(`a directory of ${USERS} users`, () => {
  it('sends the whole list as one array, compressed on the wire when the client accepts it', async () => {
    const plain = await http('GET', '/users', { token: admin });
    expect(plain.status).toBe(200);
    const all = (plain.body as Named[]).map((u) => u.cn);
    expect(all.filter((cn) => cn.startsWith(prefix))).toEqual(names);
    for (const [accept, encoding, decode] of [['gzip', 'gzip', gunzipSync], ['gzip, deflate, br', 'br', brotliDecompressSync]] as const) {
      const reply = await raw('/users', { 'accept-encoding': accept });
      expect(reply.status).toBe(200);
      expect(reply.headers['content-encoding']).toBe(encoding);
      expect(reply.headers.vary).toMatch(/Accept-Encoding/i);
      const body = decode(reply.body).toString('utf8');
      expect(reply.body.length).toBeLessThan(Buffer.byteLength(body) / 3);
      expect((JSON.parse(body) as Named[]).map((u) => u.cn)).toEqual(all);
    }
  });

  it('walks all pages while other requests add and delete users: every user present throughout seen exactly once', async () => {
    for (let round = 0; round < 3; round += 1) {
      const doomed = names.filter((_, i) => i % 97 === round);
      const added: string[] = [];
      let walking = true;
      const churn = (async () => {
        for (let i = 0; walking && i < doomed.length; i += 1) {
          // A new user lands between existing ones; an existing one goes.
          const cn = `${doomed[i]}n${round}`;
          added.push(cn);
          const created = await http('POST', '/users', {
            token: admin,
            json: { cn, givenName: 'N', sn: 'W', userPassword: 'walk-pages-1', confirmPassword: 'walk-pages-1', duration: 1, durationUnit: 'Days' },
          });
          expect(created.status, created.text).toBe(201);
          expect((await http('DELETE', `/users/${doomed[i]}`, { token: admin })).status).toBe(200);
        }
      })();
      const seen: string[] = [];
      let path: string | undefined = `/users?limit=100&q=${prefix}`;
      try {
        while (path !== undefined) {
          const reply: Reply = await http('GET', path, { token: admin });
          expect(reply.status, reply.text).toBe(200);
          expect((reply.body as Named[]).length).toBeLessThanOrEqual(100);
          seen.push(...(reply.body as Named[]).map((u) => u.cn));
          const next = /^<\/api([^>]+)>; rel="next"$/.exec(reply.headers.link ?? '')?.[1];
          path = next;
        }
      } finally {
        walking = false;
      }
      await churn;
      // Every round starts with all users in place; those deleted during it are the doomed ones.
      const throughout = names.filter((cn) => !doomed.includes(cn));
      expect(seen.filter((cn) => !doomed.includes(cn) && !added.includes(cn))).toEqual(throughout);
      expect(new Set(seen).size).toBe(seen.length);
      // Put the directory back for the next round.
      for (const cn of added) await http('DELETE', `/users/${cn}`, { token: admin });
      await inParallel(doomed, 4, (client, cn) =>
        client.add(userDN(cn), { objectClass: ['top', 'inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject'], cn, uid: cn, sn: 'Big', pwdAttribute: 'userPassword' }).catch(() => undefined),
      );
    }
  });

  it('reads a group of all of them, which gains and loses a member as the console sends it (the full list)', async () => {
    const cn = uniqueName('all');
    const everyone = names.map(userDN);
    try {
      // Filled in slices straight in the directory: memberof updates every member an add names.
      await inParallel([everyone], 1, async (client) => {
        await client.add(groupDN(cn), { objectClass: ['top', 'groupOfNames'], cn, member: everyone.slice(0, 500) });
        for (let i = 500; i < everyone.length; i += 500) {
          await client.modify(groupDN(cn), [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: everyone.slice(i, i + 500) }) })]);
        }
      });
      const read = await http('GET', `/groups/${cn}`, { token: admin });
      expect((read.body as { members: string[] }[])[0]!.members).toHaveLength(USERS);
      const newcomer = userDN('alice');
      const gained = await http('PUT', `/groups/${cn}`, { token: admin, json: { members: [...everyone, newcomer] } });
      expect(gained.status, gained.text).toBe(200);
      expect((gained.body as { members: string[] }[])[0]!.members).toHaveLength(USERS + 1);
      const alice = await http('GET', '/users/alice', { token: admin });
      expect((alice.body as { memberOfs: string[] }[])[0]!.memberOfs.map((g) => g.toLowerCase())).toContain(groupDN(cn).toLowerCase());
      const lost = await http('PUT', `/groups/${cn}`, { token: admin, json: { members: everyone.slice(1) } });
      expect(lost.status, lost.text).toBe(200);
      const after = (await http('GET', `/groups/${cn}`, { token: admin })).body as { members: string[] }[];
      expect(new Set(after[0]!.members.map((m) => m.toLowerCase()))).toEqual(new Set(everyone.slice(1).map((m) => m.toLowerCase())));
    } finally {
      await http('DELETE', `/groups/${cn}`, { token: admin });
    }
  });
});
