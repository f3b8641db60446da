// Sessions against the private slapd, handlers invoked directly: logouts racing a prune, the bound
// on the revocation list, a password change cut short by the directory, and tokens checked before
// the directory is contacted at all.
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { SignJWT } from 'jose';
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as check } from '../../functions/auth/check.js';
import { handler as login } from '../../functions/auth/login.js';
import { handler as logout } from '../../functions/auth/logout.js';
import { handler as refresh } from '../../functions/auth/refresh.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { MAX_REVOCATIONS } from '../../lib/sessions.js';
import { withDirectoryAt, withSilentDirectory } from '../directory-at.js';
import { ADMIN_PASSWORD, env, invoke, tokenOf, uniqueName, userDN, withManager, type Tokens } from '../helpers.js';

const PASSWORD = 'session-integration-pw';
let admin: string;
const created: string[] = [];

const newUser = async (): Promise<string> => {
  const cn = uniqueName('si');
  const reply = await invoke(createUser, {
    method: 'POST', route: '/api/users', token: admin,
    json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'S', sn: 'I', duration: 1, durationUnit: 'Days' },
  });
  expect(reply.status, reply.text).toBe(201);
  created.push(cn);
  return cn;
};

const loginAs = async (cn: string): Promise<Tokens> => {
  const reply = await invoke(login, { method: 'POST', route: '/api/login', json: { username: cn, password: PASSWORD } });
  expect(reply.status, reply.text).toBe(200);
  return reply.body as Tokens;
};

const logoutWith = (token: string) => invoke(logout, { method: 'DELETE', route: '/api/logout', token });

/** Status of a check with the access token and of a refresh with the refresh token. */
const statuses = async (tokens: Tokens): Promise<[number, number]> => [
  (await invoke(check, { method: 'GET', route: '/api/check_jwt_token', token: tokens.access_token })).status,
  (await invoke(refresh, { method: 'POST', route: '/api/refresh', token: tokens.refresh_token, json: {} })).status,
];

const labeledURIs = (cn: string): Promise<string[]> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(userDN(cn), { scope: 'base', attributes: ['labeledURI'] });
    const value = searchEntries[0]?.labeledURI;
    return value === undefined ? [] : [value].flat().map(String);
  });

const addLabeledURI = (cn: string, value: string): Promise<void> =>
  withManager((client) => client.modify(userDN(cn), [new Change({ operation: 'add', modification: new Attribute({ type: 'labeledURI', values: [value] }) })]));

/** The length of the first whole LDAPMessage in `buffer` and its protocolOp tag, if one is there. */
const firstMessage = (buffer: Buffer): { length: number; op: number } | undefined => {
  const first = buffer[1];
  if (first === undefined) return undefined;
  const lengthBytes = first & 0x80 ? first & 0x7f : 0;
  const header = 2 + lengthBytes;
  if (buffer.length < header) return undefined;
  const length = lengthBytes === 0 ? first : [...buffer.subarray(2, header)].reduce((n, byte) => n * 256 + byte, 0);
  const idLength = buffer[header + 1];
  const op = idLength === undefined ? undefined : buffer[header + 2 + idLength];
  return buffer.length < header + length || op === undefined ? undefined : { length: header + length, op };
};

/** LDAP's ExtendedResponse, [APPLICATION 24]: the answer to a Password Modify. */
const EXTENDED_RESPONSE = 0x78;

/**
 * A TCP proxy to the test directory that passes on the first extended response and then drops
 * every connection and refuses new ones: the directory fails right after a new password is set.
 */
const failAfterPasswordModify = async (): Promise<{ url: string; failed: () => boolean; close: () => void }> => {
  const target = new URL(env().LDAP_URL!);
  const sockets: Socket[] = [];
  let failed = false;
  const server = createServer((client) => {
    if (failed) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    sockets.push(client, upstream);
    for (const socket of [client, upstream]) socket.on('error', () => undefined);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let message = firstMessage(pending); message !== undefined && !failed; message = firstMessage(pending)) {
        client.write(pending.subarray(0, message.length));
        pending = pending.subarray(message.length);
        if (message.op !== EXTENDED_RESPONSE) continue;
        failed = true;
        for (const socket of sockets) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ldap://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failed: () => failed,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
};

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const cn of created) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name: cn }, token: admin });
});

describe('logout', () => {
  it('two logouts at once, with an expired revocation due for pruning, both succeed and both sessions end (25 trials)', async () => {
    const cn = await newUser();
    for (let trial = 0; trial < 25; trial += 1) {
      await addLabeledURI(cn, `urn:keyper:revoked-session:${randomUUID()}:${1000 + trial}`);
      const [a, b] = [await loginAs(cn), await loginAs(cn)];
      const replies = await Promise.all([logoutWith(a.access_token), logoutWith(b.access_token)]);
      expect(replies.map((reply) => reply.status), `trial ${trial}: ${replies.map((r) => r.text).join(' ')}`).toEqual([200, 200]);
      expect(await statuses(a), `trial ${trial}`).toEqual([401, 401]);
      expect(await statuses(b), `trial ${trial}`).toEqual([401, 401]);
    }
    // The expired revocations were pruned.
    expect((await labeledURIs(cn)).filter((uri) => /:\d{4}$/.test(uri))).toEqual([]);
  });

  it('the same session logged out twice at once answers 200 twice', async () => {
    const cn = await newUser();
    for (let trial = 0; trial < 20; trial += 1) {
      const tokens = await loginAs(cn);
      const replies = await Promise.all([logoutWith(tokens.access_token), logoutWith(tokens.access_token)]);
      // The second may come after the first has revoked the session (401) or write the same value.
      for (const reply of replies) expect([200, 401], reply.text).toContain(reply.status);
      expect(replies.some((reply) => reply.status === 200)).toBe(true);
      expect(await statuses(tokens)).toEqual([401, 401]);
    }
  });

  it(`keeps the revocation list bounded: ${MAX_REVOCATIONS + 10} logouts leave at most ${MAX_REVOCATIONS + 2} values`, async () => {
    const cn = await newUser();
    await addLabeledURI(cn, 'https://example.org/not-ours');
    const ended: Tokens[] = [];
    for (let i = 0; i < MAX_REVOCATIONS + 10; i += 1) {
      const tokens = await loginAs(cn);
      expect((await logoutWith(tokens.access_token)).status).toBe(200);
      ended.push(tokens);
      expect((await labeledURIs(cn)).length).toBeLessThanOrEqual(MAX_REVOCATIONS + 2);
    }
    const uris = await labeledURIs(cn);
    expect(uris).toContain('https://example.org/not-ours');
    for (const tokens of ended) expect(await statuses(tokens)).toEqual([401, 401]);
    // The user can still log in and work.
    expect(await statuses(await loginAs(cn))).toEqual([200, 200]);
  }, 120_000);
});

describe('a password change that fails after the new password is set', () => {
  it('leaves none of the other sessions alive (they end before the password is set)', async () => {
    const cn = await newUser();
    const [changer, other] = [await loginAs(cn), await loginAs(cn)];
    const next = `${PASSWORD}-new`;
    const proxy = await failAfterPasswordModify();
    try {
      const reply = await withDirectoryAt(
        proxy.url,
        () => invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name: cn }, token: changer.access_token, json: { userPassword: next, confirmPassword: next } }),
        '5000',
      );
      expect(proxy.failed()).toBe(true);
      expect(reply.status, reply.text).toBeGreaterThanOrEqual(500);
    } finally {
      proxy.close();
    }
    // The new password was set before the directory failed...
    expect((await invoke(login, { method: 'POST', route: '/api/login', json: { username: cn, password: next } })).status).toBe(200);
    // ...and no session that the old password opened outlives it, but the changer's own.
    expect(await statuses(other)).toEqual([401, 401]);
    expect(await statuses(changer)).toEqual([200, 200]);
  });
});

describe('the token is checked before the directory is contacted', () => {
  const badTokens = async (): Promise<[string, string | undefined][]> => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { identity: 'admin', type: 'access', user_claims: '{role: keyper_admin}', sid: randomUUID(), account: randomUUID(), gen: 0 };
    const sign = (key: Uint8Array, exp: number) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('admin').setJti(randomUUID()).setIssuedAt(now - 60).setExpirationTime(exp).sign(key);
    const own = new TextEncoder().encode(env().JWT_SECRET!);
    return [
      ['no token', undefined],
      ['garbage', 'not.a.jwt'],
      ['forged', await sign(new TextEncoder().encode('f'.repeat(40)), now + 600)],
      ['expired', await sign(own, now - 1)],
      ['a refresh token', (await loginAs(await newUser())).refresh_token],
    ];
  };

  it('with the directory down: 401 without a valid token, 503 with one', async () => {
    const bad = await badTokens();
    await withDirectoryAt('ldap://127.0.0.1:1', async () => {
      for (const [what, token] of bad) {
        const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'admin' }, ...(token === undefined ? {} : { token }) });
        expect(reply.status, what).toBe(401);
      }
      const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'admin' }, token: admin });
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ msg: 'Directory unavailable' });
    });
  });

  it('opens no connection for a stranger\'s malformed login', async () => {
    await withSilentDirectory(async (connections) => {
      for (const json of [{}, { username: 'alice' }, { username: 42, password: 'whatever-it-is' }]) {
        expect((await invoke(login, { method: 'POST', route: '/api/login', json })).status, JSON.stringify(json)).toBe(400);
      }
      expect(connections()).toBe(0);
      // The counter does count: a well-formed login connects (and times out: the server never answers).
      expect((await invoke(login, { method: 'POST', route: '/api/login', json: { username: 'alice', password: 'whatever-it-is' } })).status).toBe(503);
      expect(connections()).toBeGreaterThan(0);
    });
  });

  it('opens no connection for a missing, forged, expired or wrong-type token', async () => {
    const bad = await badTokens();
    await withSilentDirectory(async (connections) => {
      for (const [what, token] of bad) {
        const reply = await invoke(check, { method: 'GET', route: '/api/check_jwt_token', ...(token === undefined ? {} : { token }) });
        expect(reply.status, what).toBe(401);
      }
      expect(connections()).toBe(0);
      // The counter does count: a valid token connects (and times out: the server never answers).
      expect((await invoke(check, { method: 'GET', route: '/api/check_jwt_token', token: admin })).status).toBe(503);
      expect(connections()).toBeGreaterThan(0);
    });
  });
});
