// Certificates on users and hosts (sshPublicCerts on POST and PUT /api/users and /api/hosts) and
// the CA routes, handlers invoked directly against the private slapd with the test harness's CAs,
// every certificate checked with the real `ssh-keygen -L`: what is signed and stored, removal
// (revoked in the KRL, the key refused afterwards), refusals that change nothing, Keyper's stored
// certificates read back, and concurrent additions.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as hostca } from '../../functions/public/hostca.js';
import { handler as krlca } from '../../functions/public/krlca.js';
import { handler as userca } from '../../functions/public/userca.js';
import { handler as createHost } from '../../functions/hosts/create.js';
import { handler as deleteHost } from '../../functions/hosts/delete.js';
import { handler as updateHost } from '../../functions/hosts/update.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { USER_EXTENSIONS } from '../../lib/sshcert.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { addStoredValues } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiEvent, env, expectRefusedWithoutChange, groupDN, invoke, lambdaContext, tokenOf, uniqueName, userDN, withManager, type Reply } from '../helpers.js';
import { Scratch, listCertificate, listedTime, queryKrl, sshKeygenOk } from '../sshkeygen.js';
import { Attribute, Change } from 'ldapts';

const PASSWORD = 'correct horse battery';
const scratch = new Scratch();
let admin: string;
const users: string[] = [];
const hosts: string[] = [];

interface Cert {
  keyid: number;
  name: string;
  key: string;
  fingerprint: string;
  serial: string;
  dateExpire: string;
  hostGroups?: string[];
  cert: string;
  keytype: number;
}
interface Entity {
  cn: string;
  sshPublicKeys?: unknown[];
  sshPublicCerts: Cert[];
}

const entityOf = (reply: Reply): Entity => {
  expect(reply.status, reply.text).toBeLessThan(300);
  return (reply.body as Entity[])[0]!;
};
const put = (name: string, json: unknown): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json });
const putHost = (name: string, json: unknown): Promise<Reply> =>
  invoke(updateHost, { method: 'PUT', route: '/api/hosts/{name}', pathParameters: { name }, token: admin, json });
const getOne = async (name: string): Promise<Entity> => entityOf(await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name }, token: admin }));

const newUser = async (extra: Record<string, unknown> = {}): Promise<Reply> => {
  const cn = uniqueName('crt');
  users.push(cn);
  return invoke(createUser, {
    method: 'POST',
    route: '/api/users',
    token: admin,
    json: { cn, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Cert', sn: 'Holder', duration: 2, durationUnit: 'Hours', memberOfs: [groupDN('web1')], ...extra },
  });
};

const fp = (line: string): string => parsePublicKey(line).fingerprint;
const certRequest = (line: string, hostGroups = [groupDN('web1')]) => ({ name: 'laptop', key: line, fingerprint: fp(line), hostGroups });
const caLine = (kind: 'user' | 'host'): string => readFileSync(`${env()[kind === 'user' ? 'CA_USER_KEY' : 'CA_HOST_KEY']!}.pub`, 'utf8').trim();
const caFingerprint = (kind: 'user' | 'host'): string => fp(caLine(kind));

const krl = async (): Promise<Buffer> => {
  const result = await krlca(apiEvent({ method: 'GET', route: '/api/krlca' }), lambdaContext());
  expect(result.statusCode).toBe(200);
  return Buffer.from(result.body ?? '', 'base64');
};

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of users) await invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
  for (const name of hosts) await invoke(deleteHost, { method: 'DELETE', route: '/api/hosts/{name}', pathParameters: { name }, token: admin });
  scratch.remove();
});

describe('GET /api/userca and /api/hostca', () => {
  it('answer the CAs\' public key lines, as ssh-keygen reads them', async () => {
    for (const [kind, handler] of [['user', userca], ['host', hostca]] as const) {
      const reply = await invoke(handler, { method: 'GET', route: `/api/${kind}ca` });
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(reply.text).toBe(`${caLine(kind)}\n`);
      expect(sshKeygenOk(['-l', '-f', scratch.write(`${kind}ca.pub`, reply.text)]).split(' ')[1]).toBe(caFingerprint(kind));
    }
  });
});

describe('user certificates', () => {
  it('are signed on create for each key type, stored as Keyper stores them, and read by ssh-keygen -L', async () => {
    const keys = [
      scratch.keygen(['-t', 'ed25519']).publicLine,
      scratch.keygen(['-t', 'ecdsa', '-b', '384']).publicLine,
      scratch.keygen(['-t', 'rsa', '-b', '2048']).publicLine,
    ];
    const started = Math.floor(Date.now() / 1000);
    const user = entityOf(await newUser({ sshPublicCerts: keys.map((line) => certRequest(line)) }));
    const ended = Math.floor(Date.now() / 1000);
    expect(user.sshPublicCerts.map((cert) => cert.keyid)).toEqual([100, 101, 102]);
    for (const [index, cert] of user.sshPublicCerts.entries()) {
      expect(cert).toMatchObject({ keytype: 1, name: 'laptop', fingerprint: fp(keys[index]!), hostGroups: [groupDN('web1')] });
      const listing = listCertificate(scratch, cert.cert);
      expect(listing.type).toBe(`${parsePublicKey(keys[index]!).type}-cert-v01@openssh.com user certificate`);
      expect(listing.keyId).toBe(`"${user.cn}"`);
      // No principals on the user: the user name is the one principal.
      expect(listing.principals).toEqual([user.cn]);
      expect(listing.serial).toBe(cert.serial);
      expect(BigInt(cert.serial)).toBeGreaterThan(0n);
      expect(listing.signingCa).toContain(caFingerprint('user'));
      expect(listing.extensions).toEqual([...USER_EXTENSIONS].sort());
      const [from, to] = listing.valid.replace(/^from /, '').split(' to ');
      expect([listedTime(started - 300), listedTime(ended - 300)]).toContain(from);
      expect(to! >= listedTime(started + 7200) && to! <= listedTime(ended + 7200)).toBe(true);
      expect(cert.dateExpire).toBe(to!.replace(/[-:T]/g, ''));
    }
    expect(new Set(user.sshPublicCerts.map((cert) => cert.serial)).size).toBe(3);
  });

  it('carry the user\'s principals, and a PUT adds and removes them value by value', async () => {
    const user = entityOf(await newUser({ principal: ['ops', 'deploy'] }));
    const line = ed25519Line();
    const updated = entityOf(await put(user.cn, { sshPublicCerts: [certRequest(line)] }));
    const [cert] = updated.sshPublicCerts;
    expect(listCertificate(scratch, cert!.cert).principals).toEqual(['ops', 'deploy']);

    // Removal: the value is gone, its serial is in the KRL, and the key cannot be certified again.
    const removed = entityOf(await put(user.cn, { sshPublicCerts: [cert] }));
    expect(removed.sshPublicCerts).toEqual([]);
    expect(queryKrl(scratch, await krl(), [cert!.cert, line]).verdicts).toEqual(['REVOKED', 'ok']);
    const again = await put(user.cn, { sshPublicCerts: [certRequest(line)] });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ msg: `SSH key ${fp(line)} is revoked` });
    const asKey = await put(user.cn, { sshPublicKeys: [certRequest(line)] });
    expect(asKey.status).toBe(400);
  });

  it('refuses host groups that are not the user\'s, a key given twice, and a principal sshd would split, changing nothing', async () => {
    const user = entityOf(await newUser());
    await withManager((client) => client.modify(userDN(user.cn), [new Change({ operation: 'add', modification: new Attribute({ type: 'pseudonym', values: ['two words'] }) })]));
    const line = ed25519Line();
    await expectRefusedWithoutChange(async () => {
      const outside = await put(user.cn, { sshPublicCerts: [certRequest(ed25519Line(), [groupDN('KeyperAdmins')])] });
      expect(outside.body).toMatchObject({ errors: { 'sshPublicCerts.0.hostGroups': expect.stringMatching(/not groups of the user/) } });
      const wrongPrint = await put(user.cn, { sshPublicCerts: [{ ...certRequest(line), fingerprint: fp(ed25519Line()) }] });
      expect(wrongPrint.status).toBe(400);
      const principal = await put(user.cn, { sshPublicCerts: [certRequest(line)] });
      expect(principal.body).toMatchObject({ msg: expect.stringMatching(/principal "two words" contains a comma, whitespace or a control character/) });
      const twice = await put(user.cn, { sshPublicCerts: [certRequest(ed25519Line()), certRequest(line), certRequest(line)] });
      expect(twice.status).toBe(409);
      return [outside, wrongPrint, principal, twice];
    });
  });

  it('are added concurrently without a lost certificate or a shared keyid (20 requests)', async () => {
    const user = entityOf(await newUser());
    const lines = Array.from({ length: 20 }, () => ed25519Line());
    const replies = await Promise.all(lines.map((line) => put(user.cn, { sshPublicCerts: [certRequest(line)] })));
    for (const reply of replies) expect(reply.status, reply.text).toBe(200);
    const stored = (await getOne(user.cn)).sshPublicCerts;
    expect(stored.map((cert) => cert.fingerprint).sort()).toEqual(lines.map(fp).sort());
    const ids = stored.map((cert) => cert.keyid);
    expect(new Set(ids).size).toBe(20);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(100);
  });

  it('read back a certificate Keyper stored (no serial field) with its serial from the certificate', async () => {
    const user = entityOf(await newUser());
    const subject = scratch.keygen(['-t', 'ed25519']);
    const ca = scratch.keygen(['-t', 'ed25519'], 'keyper ca');
    sshKeygenOk(['-s', ca.file, '-I', user.cn, '-n', user.cn, '-z', '20210101120000123', '-V', '+1d', `${subject.file}.pub`]);
    const certLine = readFileSync(`${subject.file}-cert.pub`, 'utf8').trim();
    const keyper = { keyid: 100, keytype: 1, name: 'old', key: subject.publicLine, fingerprint: fp(subject.publicLine), hostGroups: [groupDN('web1')], dateExpire: '20991231000000', cert: certLine };
    await addStoredValues(user.cn, [JSON.stringify(keyper)]);
    expect((await getOne(user.cn)).sshPublicCerts).toEqual([{ ...keyper, serial: '20210101120000123' }]);
  });
});

describe('host certificates', () => {
  it('are signed on create and update with the host CA, for the host name and its principals', async () => {
    const cn = uniqueName('hcrt');
    hosts.push(cn);
    const hostKey = scratch.keygen(['-t', 'ecdsa', '-b', '256']).publicLine;
    const created = entityOf(await invoke(createHost, {
      method: 'POST', route: '/api/hosts', token: admin,
      json: { cn, description: 'cert host', principal: ['www.example.org'], duration: 2, durationUnit: 'Days', sshPublicCerts: [{ key: hostKey }] },
    }));
    const [cert] = created.sshPublicCerts;
    expect(cert).toMatchObject({ keyid: 100, keytype: 1, fingerprint: fp(hostKey) });
    expect(cert).not.toHaveProperty('hostGroups');
    const listing = listCertificate(scratch, cert!.cert);
    expect(listing.type).toBe('ecdsa-sha2-nistp256-cert-v01@openssh.com host certificate');
    expect(listing.keyId).toBe(`"${cn}"`);
    expect(listing.principals).toEqual([cn, 'www.example.org']);
    expect(listing.extensions).toEqual([]);
    expect(listing.signingCa).toContain(caFingerprint('host'));

    const second = ed25519Line();
    const updated = entityOf(await putHost(cn, { sshPublicCerts: [cert, { name: 'new', key: second }] }));
    expect(updated.sshPublicCerts.map((c) => [c.keyid, c.fingerprint])).toEqual([[100, fp(second)]]);
    expect(queryKrl(scratch, await krl(), [cert!.cert]).verdicts).toEqual(['REVOKED']);
  });
});
