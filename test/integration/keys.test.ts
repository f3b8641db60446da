// Key storage on users (sshPublicKeys on POST and PUT /api/users), handlers invoked directly
// against the private slapd: what is stored, every refusal (and that it changes nothing), users
// managing their own keys, Keyper's existing values read back untouched, and concurrent writers.
import { Attribute, Change } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { ADMIN_PASSWORD, groupDN, invoke, snapshot, uniqueName, userDN, withManager, type Reply, tokenOf } from '../helpers.js';

type StoredKey = Record<string, unknown>;
interface UserJson {
  cn: string;
  memberOfs: string[];
  sshPublicKeys: StoredKey[];
  sshPublicCerts: StoredKey[];
}

const PASSWORD = 'correct horse battery';
let admin: string;
const created: string[] = [];

const create = (json: unknown, token = admin): Promise<Reply> => invoke(createUser, { method: 'POST', route: '/api/users', token, json });
const update = (name: string, json: unknown, token = admin): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token, json });
const get = async (name: string): Promise<UserJson> => {
  const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as UserJson[])[0]!;
};
const userOf = (reply: Reply): UserJson => {
  expect(reply.status, reply.text).toBeLessThan(300);
  return (reply.body as UserJson[])[0]!;
};

/** A new user in the given groups (web1 by default), validity 2 hours. */
const newUser = async (groups = [groupDN('web1')], extra: Record<string, unknown> = {}): Promise<string> => {
  const cn = uniqueName('key');
  created.push(cn);
  const reply = await create({
    cn,
    userPassword: PASSWORD,
    confirmPassword: PASSWORD,
    givenName: 'Key',
    sn: 'Holder',
    duration: '2',
    durationUnit: 'Hours',
    memberOfs: groups,
    ...extra,
  });
  expect(reply.status, reply.text).toBe(201);
  return cn;
};

const fp = (line: string): string => parsePublicKey(line).fingerprint;
const newKey = (line = ed25519Line(), hostGroups = [groupDN('web1')], name = 'laptop') => ({ name, key: line, fingerprint: fp(line), hostGroups });

/** The raw sshPublicKey values as the directory holds them. */
const rawValues = (name: string): Promise<string[]> =>
  withManager(async (client) => {
    const { searchEntries } = await client.search(userDN(name), { scope: 'base', attributes: ['sshPublicKey'] });
    const v = searchEntries[0]?.sshPublicKey;
    return v === undefined ? [] : [v].flat().map(String);
  });

const addRaw = (name: string, values: string[]): Promise<void> =>
  withManager((client) => client.modify(userDN(name), [new Change({ operation: 'add', modification: new Attribute({ type: 'sshPublicKey', values }) })]));

/** UTC YYYYMMDDHHMMSS of a moment, to bound the server's dateExpire. */
const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
});

describe('adding and removing keys', () => {
  it('stores a key with server-set keyid, keytype, fingerprint and dateExpire (now + the user\'s validity)', async () => {
    const name = await newUser();
    const line = ed25519Line('alice@laptop');
    const before = Date.now();
    const user = userOf(await update(name, { sshPublicKeys: [{ name: 'laptop', key: `  ${line}\t`, fingerprint: fp(line), hostGroups: [groupDN('web1')] }] }));
    const after = Date.now();
    expect(user.sshPublicKeys).toHaveLength(1);
    const key = user.sshPublicKeys[0]!;
    expect(key).toEqual({ name: 'laptop', key: line, fingerprint: fp(line), hostGroups: [groupDN('web1')], keyid: 0, keytype: 0, dateExpire: expect.any(String) });
    const dateExpire = String(key.dateExpire);
    expect(dateExpire >= stamp(before + 2 * 3600_000) && dateExpire <= stamp(after + 2 * 3600_000), dateExpire).toBe(true);
    expect(user.sshPublicCerts).toEqual([]);
    // One JSON value in the directory, exactly what the API returns.
    expect(await rawValues(name)).toEqual([JSON.stringify(key)]);
  });

  it('takes keys on create (Keyper\'s console sends sshPublicKeys: [] and may send sshPublicCerts: [])', async () => {
    const empty = await newUser([groupDN('web1')], { sshPublicKeys: [], sshPublicCerts: [] });
    expect((await get(empty)).sshPublicKeys).toEqual([]);
    expect(await rawValues(empty)).toEqual([]);
    const a = newKey();
    const b = newKey(ed25519Line(), [], 'no groups');
    const withKeys = await newUser([groupDN('web1')], { sshPublicKeys: [a, b] });
    const keys = (await get(withKeys)).sshPublicKeys;
    expect(keys.map((k) => [k.keyid, k.fingerprint, k.keytype])).toEqual([
      [0, a.fingerprint, 0],
      [1, b.fingerprint, 0],
    ]);
  });

  it('removes the key whose stored object is sent back (the console\'s delete), leaving the others as stored', async () => {
    const name = await newUser();
    const keep = newKey();
    const drop = newKey();
    const stored = userOf(await update(name, { sshPublicKeys: [keep, drop] })).sshPublicKeys;
    const keptRaw = (await rawValues(name)).find((raw) => raw.includes(keep.fingerprint));
    const toDrop = stored.find((k) => k.fingerprint === drop.fingerprint)!;
    const user = userOf(await update(name, { sshPublicKeys: [toDrop] }));
    expect(user.sshPublicKeys.map((k) => k.fingerprint)).toEqual([keep.fingerprint]);
    expect(await rawValues(name)).toEqual([keptRaw]);
    // Removing it again (already gone) changes nothing and is not an error.
    const before = await snapshot();
    expect((await update(name, { sshPublicKeys: [toDrop] })).status).toBe(200);
    expect(await snapshot()).toBe(before);
  });

  it('numbers a new key one past the highest keyid', async () => {
    const name = await newUser();
    const [k0, k1, k2] = [newKey(), newKey(), newKey()];
    const stored = userOf(await update(name, { sshPublicKeys: [k0, k1, k2] })).sshPublicKeys;
    expect(stored.map((k) => k.keyid)).toEqual([0, 1, 2]);
    userOf(await update(name, { sshPublicKeys: [stored[1]] }));
    const user = userOf(await update(name, { sshPublicKeys: [newKey()] }));
    expect(user.sshPublicKeys.map((k) => k.keyid).sort()).toEqual([0, 2, 3]);
  });
});

describe('refusals change nothing', () => {
  it('409 for a key the user already has (same key, other comment and name)', async () => {
    const name = await newUser();
    const line = ed25519Line('first');
    userOf(await update(name, { sshPublicKeys: [newKey(line)] }));
    const before = await snapshot();
    const again = await update(name, { sshPublicKeys: [newKey(line.replace('first', 'second'), [groupDN('web1')], 'again')] });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ msg: `SSH key ${fp(line)} is already stored for this user` });
    const twice = await update(name, { sshPublicKeys: [newKey(), newKey(line.replace('first', 'x'))].concat(newKey(line.replace('first', 'y'))) });
    expect(twice.status).toBe(409);
    expect(await snapshot()).toBe(before);
  });

  it('400 naming the hostGroups the user is not in; fine once this request\'s memberOfs include them', async () => {
    const name = await newUser();
    const key = newKey(ed25519Line(), [groupDN('web1'), groupDN('web2'), groupDN('nosuchgroup')]);
    const before = await snapshot();
    const reply = await update(name, { sshPublicKeys: [key] });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      msg: `Invalid sshPublicKeys.0.hostGroups: not groups of the user: ${groupDN('web2')}; ${groupDN('nosuchgroup')}`,
      errors: { 'sshPublicKeys.0.hostGroups': `not groups of the user: ${groupDN('web2')}; ${groupDN('nosuchgroup')}` },
    });
    // Leaving web1 in the same request makes a key for web1 invalid too.
    const leaving = await update(name, { memberOfs: [groupDN('web2')], sshPublicKeys: [newKey()] });
    expect(leaving.status).toBe(400);
    expect(await snapshot()).toBe(before);
    const joined = userOf(await update(name, { memberOfs: [groupDN('web1'), groupDN('web2')], sshPublicKeys: [newKey(ed25519Line(), [groupDN('web2')])] }));
    expect(joined.sshPublicKeys[0]!.hostGroups).toEqual([groupDN('web2')]);
  });

  it('400 when the client\'s fingerprint is not the key\'s', async () => {
    const name = await newUser();
    const before = await snapshot();
    const line = ed25519Line();
    const reply = await update(name, { sshPublicKeys: [{ ...newKey(line), fingerprint: fp(ed25519Line()) }] });
    expect(reply.status).toBe(400);
    expect((reply.body as { msg: string }).msg).toBe(`Invalid sshPublicKeys.0.fingerprint: does not match the key (${fp(line)})`);
    expect(await snapshot()).toBe(before);
  });

  it.each([
    ['ssh-dss', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x', 'ssh-dss keys are not accepted'],
    ['options', `command="/bin/sh" ${ed25519Line()}`, 'key options such as command= are not allowed'],
    ['two lines', `${ed25519Line()}\n${ed25519Line()}`, 'key must be a single line'],
    ['bad base64', 'ssh-ed25519 AAAA$$$$ x', 'key is not valid base64'],
    ['truncated blob', `ssh-ed25519 ${Buffer.from(ed25519Line().split(' ')[1]!, 'base64').subarray(0, 30).toString('base64')}`, 'key blob is truncated'],
    ['type mismatch', `ecdsa-sha2-nistp256 ${ed25519Line().split(' ')[1]!}`, 'key type in the blob (ssh-ed25519) does not match the line (ecdsa-sha2-nistp256)'],
    ['huge', `${ed25519Line()} ${'x'.repeat(17_000)}`, 'key is larger than 16 KB'],
    ['empty', '', 'key is empty'],
  ])('400 with the reason for a malformed key: %s', async (_, key, reason) => {
    const name = created[0] ?? (await newUser());
    const before = await snapshot();
    const reply = await update(name, { sshPublicKeys: [{ name: 'bad', key, hostGroups: [] }] });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ msg: `Invalid sshPublicKeys.0.key: ${reason}`, errors: { 'sshPublicKeys.0.key': reason } });
    expect(await snapshot()).toBe(before);
  });

  it('400 for unknown fields in a new key or certificate (certificates: test/integration/certs.test.ts)', async () => {
    const name = created[0] ?? (await newUser());
    const before = await snapshot();
    expect((await update(name, { sshPublicKeys: [{ ...newKey(), command: 'x' }] })).status).toBe(400);
    const certs = await update(name, { sshPublicCerts: [{ name: 'c', key: ed25519Line(), hostGroups: [], options: 'x' }] });
    expect(certs.status).toBe(400);
    expect(certs.body).toMatchObject({ errors: { 'sshPublicCerts.0.options': 'is not a known field' } });
    const onCreate = await create({ cn: uniqueName('crt'), userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'C', sn: 'D', duration: 1, durationUnit: 'Days', sshPublicCerts: [{}] });
    expect(onCreate.status).toBe(400);
    expect(await snapshot()).toBe(before);
    expect((await update(name, { sshPublicCerts: [] })).status).toBe(200);
  });
});

describe('users and their own keys', () => {
  it('a user adds and removes their own keys, for their own groups only, and nothing else', async () => {
    const name = await newUser([groupDN('web1')]);
    const other = await newUser([groupDN('web1')]);
    const token = await tokenOf(name, PASSWORD);
    const key = newKey();
    const added = userOf(await update(name, { sshPublicKeys: [key], sshPublicCerts: [] }, token));
    expect(added.sshPublicKeys.map((k) => k.fingerprint)).toEqual([key.fingerprint]);

    const before = await snapshot();
    expect((await update(name, { sshPublicKeys: [newKey(ed25519Line(), [groupDN('web2')])] }, token)).status).toBe(400);
    expect((await update(name, { sshPublicKeys: [newKey()], memberOfs: [groupDN('web1'), groupDN('web2')] }, token)).status).toBe(403);
    expect((await update(name, { sshPublicKeys: [newKey()], duration: 500 }, token)).status).toBe(403);
    expect((await update(other, { sshPublicKeys: [newKey()] }, token)).status).toBe(403);
    expect(await snapshot()).toBe(before);

    const removed = userOf(await update(name, { sshPublicKeys: [added.sshPublicKeys[0]] }, token));
    expect(removed.sshPublicKeys).toEqual([]);
  });
});

describe('Keyper\'s stored values', () => {
  it('reads values Keyper wrote (no keytype, YYYYMMDD, extra fields) exactly as stored, and never rewrites them', async () => {
    const name = await newUser([groupDN('web1')]);
    const lineA = ed25519Line('legacy-a');
    const lineB = ed25519Line('legacy-b');
    // Python's json.dumps spacing, fields in Keyper's order, as Keyper's users.py stored them.
    const legacy = [
      `{"name": "old laptop", "key": "${lineA}", "fingerprint": "${fp(lineA)}", "hostGroups": ["${groupDN('web1')}"], "keyid": 0, "dateExpire": "20210301"}`,
      `{"name": "desk", "key": "${lineB}", "fingerprint": "${fp(lineB)}", "hostGroups": ["CN=web1,OU=groups,DC=keyper,DC=example,DC=org"], "keyid": 4, "keytype": 0, "dateExpire": "20990301120000", "note": "kept"}`,
    ];
    await addRaw(name, legacy);
    const read = (await get(name)).sshPublicKeys;
    expect(read.map((k) => JSON.stringify(k))).toEqual(legacy.map((raw) => JSON.stringify(JSON.parse(raw))));

    // Adding and removing other keys leaves the stored values byte for byte as they were.
    const added = userOf(await update(name, { sshPublicKeys: [newKey()] })).sshPublicKeys.find((k) => !legacy.some((raw) => raw.includes(String(k.fingerprint))))!;
    expect(added.keyid).toBe(5);
    userOf(await update(name, { sshPublicKeys: [added] }));
    expect((await rawValues(name)).sort()).toEqual([...legacy].sort());

    // A legacy key is a duplicate like any other, and is removed by its keyid.
    expect((await update(name, { sshPublicKeys: [newKey(lineA)] })).status).toBe(409);
    const after = userOf(await update(name, { sshPublicKeys: [JSON.parse(legacy[0]!) as StoredKey] }));
    expect(after.sshPublicKeys.map((k) => k.keyid)).toEqual([4]);
    expect(await rawValues(name)).toEqual([legacy[1]]);
  });
});

describe('concurrent writers', () => {
  it('20 concurrent additions to one user all survive with distinct keyids; removing half concurrently keeps the rest', async () => {
    const name = await newUser();
    const keys = Array.from({ length: 20 }, (_, i) => newKey(ed25519Line(`k${i}`), [groupDN('web1')], `key ${i}`));
    const replies = await Promise.all(keys.map((key) => update(name, { sshPublicKeys: [key] })));
    expect(replies.map((r) => r.status)).toEqual(keys.map(() => 200));

    const stored = (await get(name)).sshPublicKeys;
    expect(stored.map((k) => k.fingerprint).sort()).toEqual(keys.map((k) => k.fingerprint).sort());
    expect(new Set(stored.map((k) => k.keyid)).size).toBe(20);
    // Distinct, not necessarily 0..19: an id a backing-off writer held for a moment may be skipped.
    expect(stored.every((k) => Number.isInteger(k.keyid) && (k.keyid as number) >= 0)).toBe(true);

    const raws = await rawValues(name);
    const [drop, keep] = [stored.filter((_, i) => i % 2 === 0), stored.filter((_, i) => i % 2 === 1)];
    const removals = await Promise.all(drop.map((key) => update(name, { sshPublicKeys: [key] })));
    expect(removals.map((r) => r.status)).toEqual(drop.map(() => 200));
    const left = await rawValues(name);
    expect(left.sort()).toEqual(raws.filter((raw) => keep.some((k) => raw === JSON.stringify(k))).sort());
    expect(left).toHaveLength(10);
  });

  it('the same key added concurrently is stored once; the other requests get 409', async () => {
    const name = await newUser();
    const line = ed25519Line('same');
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => update(name, { sshPublicKeys: [newKey(line, [groupDN('web1')], `try ${i}`)] })));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    expect((await get(name)).sshPublicKeys.map((k) => k.fingerprint)).toEqual([fp(line)]);
  });

  it('concurrent additions and removals of different keys do not drop or resurrect each other', async () => {
    const name = await newUser();
    const initial = userOf(await update(name, { sshPublicKeys: Array.from({ length: 6 }, () => newKey()) })).sshPublicKeys;
    const fresh = Array.from({ length: 6 }, () => newKey());
    const replies = await Promise.all([
      ...initial.slice(0, 3).map((key) => update(name, { sshPublicKeys: [key] })),
      ...fresh.map((key) => update(name, { sshPublicKeys: [key] })),
    ]);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const final = (await get(name)).sshPublicKeys;
    expect(final.map((k) => k.fingerprint).sort()).toEqual([...initial.slice(3).map((k) => k.fingerprint), ...fresh.map((k) => k.fingerprint)].sort());
    expect(new Set(final.map((k) => k.keyid)).size).toBe(final.length);
  });
});
