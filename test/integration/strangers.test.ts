// What a stranger without a token can make the public routes cost the directory: a malformed query
// (or body) is the same 400 as with the directory up, answered before any connection, and the CA
// routes answer their public key lines without ever connecting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { handler as authkeys } from '../../functions/public/authkeys.js';
import { handler as authprinc } from '../../functions/public/authprinc.js';
import { handler as hostca } from '../../functions/public/hostca.js';
import { handler as hostcert } from '../../functions/public/hostcert.js';
import { handler as userca } from '../../functions/public/userca.js';
import { handler as usercert } from '../../functions/public/usercert.js';
import { withSilentDirectory } from '../directory-at.js';
import { env, invoke, type EventInput, type Reply } from '../helpers.js';

type Handler = Parameters<typeof invoke>[0];
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const FINGERPRINT = 'SHA256:0ZCjTbmbBGsbVaBYWtNcESc5ygUt2CTV2p6fvF4Rjks';

/** Requests a stranger may send whose parameters (query, body, or both merged) do not validate. */
const MALFORMED: [string, Handler, EventInput][] = [
  ['authkeys without host', authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'alice' } }],
  ['authkeys with an empty host in the query over a good one in the form', authkeys, { method: 'POST', route: '/api/authkeys', query: { host: '' }, body: 'username=alice&host=web1', headers: FORM }],
  ['authkeys with a number for username', authkeys, { method: 'POST', route: '/api/authkeys', json: { username: 42, host: 'web1' } }],
  ['authkeys with a JSON array', authkeys, { method: 'POST', route: '/api/authkeys', json: [1] }],
  ['authprinc with a negative serial', authprinc, { method: 'GET', route: '/api/authprinc', query: { username: 'alice', host: 'web1', fingerprint: FINGERPRINT, serial: '-1' } }],
  ['authprinc with an unknown field in the form', authprinc, { method: 'POST', route: '/api/authprinc', body: `username=alice&host=web1&fingerprint=${FINGERPRINT}&serial=1&extra=1`, headers: FORM }],
  ['usercert without username', usercert, { method: 'GET', route: '/api/usercert' }],
  ['usercert with a keyid that is no number', usercert, { method: 'GET', route: '/api/usercert', query: { username: 'alice', keyid: 'x' } }],
  ['hostcert with an unknown parameter', hostcert, { method: 'GET', route: '/api/hostcert', query: { hostname: 'web1', extra: '1' } }],
  ['hostcert with a fingerprint too long', hostcert, { method: 'GET', route: '/api/hostcert', query: { hostname: 'web1', fingerprint: 'x'.repeat(101) } }],
];

/** Well-formed requests: these do reach the directory. */
const WELL_FORMED: [string, Handler, EventInput][] = [
  ['authkeys', authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'alice', host: 'web1' } }],
  ['authkeys with the query\'s host over the form\'s empty one', authkeys, { method: 'POST', route: '/api/authkeys', query: { host: 'web1' }, body: 'username=alice&host=', headers: FORM }],
  ['authprinc', authprinc, { method: 'GET', route: '/api/authprinc', query: { username: 'alice', host: 'web1', fingerprint: FINGERPRINT, serial: '1' } }],
  ['usercert', usercert, { method: 'GET', route: '/api/usercert', query: { username: 'alice' } }],
  ['hostcert', hostcert, { method: 'GET', route: '/api/hostcert', query: { hostname: 'web1' } }],
];

/** Well-formed requests that can match nothing (names that cannot exist, serial 0): the empty 200 of an unknown name. */
const UNMATCHABLE: [string, Handler, EventInput][] = [
  ['authkeys for a username that is no name', authkeys, { method: 'GET', route: '/api/authkeys', query: { username: 'a b!', host: 'web1' } }],
  ['authkeys for a host that is no host name', authkeys, { method: 'POST', route: '/api/authkeys', body: 'username=alice&host=-bad-', headers: FORM }],
  ['authprinc for serial 0', authprinc, { method: 'GET', route: '/api/authprinc', query: { username: 'alice', host: 'web1', fingerprint: FINGERPRINT, serial: '0' } }],
  ['authprinc for a fingerprint that is no SHA256 one', authprinc, { method: 'GET', route: '/api/authprinc', query: { username: 'alice', host: 'web1', fingerprint: 'x', serial: '1' } }],
  ['usercert for a username that is no name', usercert, { method: 'GET', route: '/api/usercert', query: { username: 'A B' } }],
  ['hostcert for a hostname that is no host name', hostcert, { method: 'GET', route: '/api/hostcert', query: { hostname: '_x_' } }],
];

const answer = ({ status, body }: Reply) => ({ status, body });

describe('public routes, a stranger\'s malformed parameters', () => {
  it('are the 400 they are with the directory up, and cost the directory no connection', async () => {
    const expected = await Promise.all(MALFORMED.map(async ([what, handler, input]) => [what, answer(await invoke(handler, input))] as const));
    for (const [what, reply] of expected) {
      expect(reply.status, what).toBe(400);
      expect((reply.body as { msg: string }).msg, what).toMatch(/^Invalid input: /);
    }
    await withSilentDirectory(async (connections) => {
      for (const [index, [what, handler, input]] of MALFORMED.entries()) {
        expect(answer(await invoke(handler, input)), what).toEqual(expected[index]![1]);
      }
      expect(connections()).toBe(0);
      // The counter does count: each well-formed request connects (and gets 503: nothing answers).
      for (const [what, handler, input] of WELL_FORMED) {
        const before = connections();
        expect((await invoke(handler, input)).status, what).toBe(503);
        expect(connections(), what).toBeGreaterThan(before);
      }
    });
  });
});

describe('public routes, a stranger\'s parameters that can match nothing', () => {
  it('get the empty 200 of an unknown name, with the directory up or not, and cost it no connection', async () => {
    for (const [what, handler, input] of UNMATCHABLE) {
      const reply = await invoke(handler, input);
      expect([reply.status, reply.text], what).toEqual([200, '']);
    }
    await withSilentDirectory(async (connections) => {
      for (const [what, handler, input] of UNMATCHABLE) {
        const reply = await invoke(handler, input);
        expect([reply.status, reply.text], what).toEqual([200, '']);
      }
      expect(connections()).toBe(0);
    });
  });
});

describe('GET /api/userca and /api/hostca', () => {
  it('answer the CA\'s public key line without any directory', async () => {
    await withSilentDirectory(async (connections) => {
      for (const [kind, handler, variable] of [['user', userca, 'CA_USER_KEY'], ['host', hostca, 'CA_HOST_KEY']] as const) {
        const reply = await invoke(handler, { method: 'GET', route: `/api/${kind}ca` });
        expect(reply.status, `${kind}ca: ${reply.text}`).toBe(200);
        expect(reply.text).toBe(readFileSync(`${env()[variable]!}.pub`, 'utf8').trim() + '\n');
      }
      expect(connections()).toBe(0);
    });
  });
});
