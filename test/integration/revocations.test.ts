// Revocations in the directory (lib/revocations.ts) and the KRL built from them (GET /api/krlca),
// handlers invoked directly against the private slapd and the KRL checked with the real
// `ssh-keygen -Q`: removing a key revokes it, a revoked key cannot be stored again (on anyone) and
// /authkeys never answers it; the KRL is valid when nothing is revoked, grows in version, carries
// an ETag and answers 304; concurrent revocations all land; a directory failure is a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as authkeysHandler } from '../../functions/public/authkeys.js';
import { handler as krlca } from '../../functions/public/krlca.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { reloadConfig } from '../../lib/config.js';
import { readKrl, sha256OfFingerprint } from '../../lib/krl.js';
import { revocationsDN } from '../../lib/layout.js';
import { buildKrl, currentKrl, keyCn, KRL_CACHE_MS, matchesEtag, revokeCertificate, revokeKey } from '../../lib/revocations.js';
import { generateCaKey } from '../../lib/sshca.js';
import { certificateValidity, signCertificate } from '../../lib/sshcert.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { ADMIN_PASSWORD, apiEvent, baseDN, expectRefusedWithoutChange, groupDN, invoke, lambdaContext, tokenOf, uniqueName, withManager, type Reply } from '../helpers.js';
import { queryKrl, Scratch } from '../sshkeygen.js';

const PASSWORD = 'correct horse battery';
const scratch = new Scratch();
let admin: string;
const created: string[] = [];

const create = (json: unknown): Promise<Reply> => invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json });
const update = (name: string, json: unknown): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json });
const storedKeys = async (name: string): Promise<Record<string, unknown>[]> => {
  const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  return (reply.body as { sshPublicKeys: Record<string, unknown>[] }[])[0]!.sshPublicKeys;
};
const fp = (line: string): string => parsePublicKey(line).fingerprint;
const newKey = (line: string) => ({ name: 'laptop', key: line, fingerprint: fp(line), hostGroups: [groupDN('web1')] });

const newUser = async (keys: string[] = []): Promise<string> => {
  const cn = uniqueName('rev');
  created.push(cn);
  const reply = await create({
    cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Rev', sn: 'Oked', duration: 2, durationUnit: 'Hours',
    memberOfs: [groupDN('web1')], sshPublicKeys: keys.map(newKey),
  });
  expect(reply.status, reply.text).toBe(201);
  return cn;
};

const authkeys = (query: Record<string, string>): Promise<Reply> => invoke(authkeysHandler, { method: 'GET', route: '/api/authkeys', query });

interface KrlReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const getKrl = async (headers: Record<string, string> = {}): Promise<KrlReply> => {
  const result = await krlca(apiEvent({ method: 'GET', route: '/api/krlca', headers }), lambdaContext());
  const lower = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const body = result.body === undefined ? Buffer.alloc(0) : result.isBase64Encoded === true ? Buffer.from(result.body, 'base64') : Buffer.from(result.body);
  return { status: result.statusCode ?? 200, headers: lower, body };
};

/** Deletes every revocation and the ou itself: the state of a directory Keyper left. */
const clearRevocations = (): Promise<void> =>
  withManager(async (client) => {
    try {
      const { searchEntries } = await client.search(revocationsDN(baseDN()), { scope: 'one', attributes: ['1.1'], paged: true });
      for (const entry of searchEntries) await client.del(entry.dn);
      await client.del(revocationsDN(baseDN()));
    } catch {
      // no ou yet
    }
  });

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  scratch.remove();
});

describe('GET /api/krlca', () => {
  it('is a valid KRL with nothing revoked, also before the ou exists', async () => {
    await clearRevocations();
    const reply = await getKrl();
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/octet-stream');
    const contents = readKrl(reply.body);
    expect(contents).toMatchObject({ version: 0n, keys: [], sha256: [], certificates: [] });
    const line = ed25519Line();
    expect(queryKrl(scratch, reply.body, [line]).verdicts).toEqual(['ok']);
  });

  it('revocations made at the same time all land, and the ou is created once', async () => {
    await clearRevocations();
    const lines = Array.from({ length: 20 }, () => ed25519Line());
    // Each key revoked twice at once: 40 concurrent adds, half of them of an entry being added.
    await Promise.all(lines.flatMap((line) => [0, 1].map(() => withManager((client) => revokeKey(client, baseDN(), fp(line))))));
    const reply = await getKrl();
    expect(readKrl(reply.body).version).toBe(20n);
    expect(queryKrl(scratch, reply.body, lines).verdicts).toEqual(lines.map(() => 'REVOKED'));
  });

  it('has an ETag that changes with the list, answers 304 to it, and a version that grows', async () => {
    const first = await getKrl();
    const again = await getKrl();
    expect(again.body.equals(first.body)).toBe(true);
    expect(again.headers.etag).toBe(first.headers.etag);
    const notModified = await getKrl({ 'If-None-Match': first.headers.etag! });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect((await getKrl({ 'If-None-Match': `W/${first.headers.etag!}, "other"` })).status).toBe(304);
    expect((await getKrl({ 'If-None-Match': '"other"' })).status).toBe(200);

    await withManager((client) => revokeKey(client, baseDN(), fp(ed25519Line())));
    const after = await getKrl({ 'If-None-Match': first.headers.etag! });
    expect(after.status).toBe(200);
    expect(after.headers.etag).not.toBe(first.headers.etag);
    expect(readKrl(after.body).version).toBe(readKrl(first.body).version + 1n);
  });

  it('answers from the list a warm function built while the list is unchanged; rebuilds when it changes or ages', async () => {
    await withManager((client) => revokeKey(client, baseDN(), fp(ed25519Line())));
    const first = await getKrl();
    // An entry deleted behind the service's back (revocations are permanent; nothing marks this):
    // the function keeps answering the list it built...
    const victim = `cn=${keyCn(sha256OfFingerprint(readKrl(first.body).sha256[0]!).toString('hex'))},${revocationsDN(baseDN())}`;
    await withManager((client) => client.del(victim));
    expect((await getKrl()).headers.etag).toBe(first.headers.etag);
    // ...until it is older than KRL_CACHE_MS,
    const aged = await withManager((client) => currentKrl(client, baseDN(), Date.now() + KRL_CACHE_MS + 1));
    expect(aged.version).toBe(readKrl(first.body).version - 1n);
    // and a new revocation (which marks the list changed) is answered at once.
    await withManager((client) => revokeKey(client, baseDN(), fp(ed25519Line())));
    expect(readKrl((await getKrl()).body).version).toBe(readKrl(first.body).version);
  });

  it('revokes certificates by serial under their CA', async () => {
    const ca = generateCaKey();
    const subject = ed25519Line();
    const now = Math.floor(Date.now() / 1000);
    const sign = (serial: bigint) => signCertificate(ca, { publicKey: subject, type: 'user', keyId: 'x', principals: ['x'], ...certificateValidity(now, 3600), serial });
    const revoked = sign(987654321n);
    const kept = sign(987654322n);
    await withManager((client) => revokeCertificate(client, baseDN(), { ca: ca.blob, serial: revoked.serial, fingerprint: revoked.fingerprint }));
    const reply = await getKrl();
    expect(queryKrl(scratch, reply.body, [revoked.line, kept.line, subject]).verdicts).toEqual(['REVOKED', 'ok', 'ok']);
  });

  it('answers a directory failure with a 5xx, never an empty KRL', async () => {
    const url = process.env.LDAP_URL;
    process.env.LDAP_URL = 'ldap://127.0.0.1:1';
    reloadConfig();
    try {
      const reply = await getKrl();
      expect(reply.status).toBe(503);
      expect(reply.headers['content-type']).toBe('application/json');
    } finally {
      process.env.LDAP_URL = url;
      reloadConfig();
    }
  });
});

describe('removing a key revokes it', () => {
  it('the removed key is in the KRL, cannot be stored again by anyone, and /authkeys never answers it', async () => {
    const line = ed25519Line();
    const other = ed25519Line();
    const alice = await newUser([line, other]);
    // Another user holds the same key (stored before the revocation).
    const bob = await newUser([line]);
    const stored = (await storedKeys(alice)).find((key) => key.fingerprint === fp(line));
    expect((await update(alice, { sshPublicKeys: [stored] })).status).toBe(200);

    const krl = await getKrl();
    expect(queryKrl(scratch, krl.body, [line, other]).verdicts).toEqual(['REVOKED', 'ok']);

    const dave = await newUser();
    await expectRefusedWithoutChange(async () => {
      const replies = [await update(alice, { sshPublicKeys: [newKey(line)] }), await update(dave, { sshPublicKeys: [newKey(line)] })];
      for (const reply of replies) expect(reply.body).toMatchObject({ msg: expect.stringMatching(/revoked/) });
      return replies;
    });
    const refused = await create({
      cn: uniqueName('rev'), userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'R', sn: 'R', duration: 1, durationUnit: 'Hours',
      memberOfs: [groupDN('web1')], sshPublicKeys: [newKey(line)],
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ msg: `SSH key ${fp(line)} is revoked` });

    // bob still holds it, but it is never answered, with or without the fingerprint.
    expect((await storedKeys(bob)).map((key) => key.fingerprint)).toEqual([fp(line)]);
    expect((await authkeys({ username: bob, host: 'web1' })).text).toBe('');
    expect((await authkeys({ username: bob, host: 'web1', fingerprint: fp(line) })).text).toBe('');
    expect((await authkeys({ username: alice, host: 'web1' })).text).toBe(`${other}\n`);
  });

  it('a key removed and added again in one request (an edit) is not revoked', async () => {
    const line = ed25519Line();
    const carol = await newUser([line]);
    const stored = (await storedKeys(carol))[0];
    const reply = await update(carol, { sshPublicKeys: [stored, { ...newKey(line), name: 'renamed' }] });
    expect(reply.status, reply.text).toBe(200);
    expect((await storedKeys(carol)).map((key) => key.name)).toEqual(['renamed']);
    expect(queryKrl(scratch, (await getKrl()).body, [line]).verdicts).toEqual(['ok']);
    expect((await authkeys({ username: carol, host: 'web1', fingerprint: fp(line) })).text).toBe(`${line}\n`);
  });
});

describe('KRL building (pure)', () => {
  it('gives the same bytes for the same list, and matches ETags as HTTP does', () => {
    const list = { keys: [fp(ed25519Line())], serials: new Map([['ab'.repeat(32), [5n, 3n]]]), cas: new Map(), newest: 1_700_000_000 };
    const one = buildKrl(list);
    const two = buildKrl({ ...list, serials: new Map([['ab'.repeat(32), [3n, 5n]]]) });
    expect(two.body.equals(one.body)).toBe(true);
    expect(two.etag).toBe(one.etag);
    expect(one.version).toBe(3n);
    // A CA whose entry is missing: its serials are revoked for every CA, not dropped.
    expect(readKrl(one.body).certificates).toEqual([{ ca: undefined, serials: [[3n, 3n], [5n, 5n]], keyIds: [] }]);
    expect(matchesEtag(undefined, one.etag)).toBe(false);
    expect(matchesEtag('*', one.etag)).toBe(true);
    expect(matchesEtag(`"x", W/${one.etag}`, one.etag)).toBe(true);
  });
});
