// The audit trail (lib/audit.ts), the request line and the metrics (lib/metrics.ts), read from the
// lines the handlers write: one audit line per directory change, naming who, which entry, which
// attributes and which values by identity (key fingerprints, group DNs), never a password, and
// written whatever LOG_LEVEL says.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Metric lines are off in the test runs (test/global-setup.ts): on here, before lib/metrics.ts loads.
vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

import { handler as login } from '../../functions/auth/login.js';
import { handler as logout } from '../../functions/auth/logout.js';
import { handler as createUser } from '../../functions/users/create.js';
import { handler as deleteUser } from '../../functions/users/delete.js';
import { handler as getUser } from '../../functions/users/get.js';
import { handler as updateUser } from '../../functions/users/update.js';
import { reloadConfig } from '../../lib/config.js';
import { withDirectory } from '../../lib/directory.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { addValues, allOrNothing } from '../../lib/writes.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { ADMIN_PASSWORD, groupDN, invoke, tokenOf, uniqueName, userDN, type Reply } from '../helpers.js';
import { captureLinesAt, type Line } from '../log-lines.js';

const PASSWORD = 'first secret passphrase';
const NEW_PASSWORD = 'second secret passphrase';
let admin: string;
// Nothing but audit lines and metrics should come through.
const lines = captureLinesAt('silent');
const created: string[] = [];

const create = (json: unknown): Promise<Reply> => invoke(createUser, { method: 'POST', route: '/api/users', token: admin, json });
const update = (name: string, json: unknown): Promise<Reply> =>
  invoke(updateUser, { method: 'PUT', route: '/api/users/{name}', pathParameters: { name }, token: admin, json });
const remove = (name: string): Promise<Reply> => invoke(deleteUser, { method: 'DELETE', route: '/api/users/{name}', pathParameters: { name }, token: admin });
const tryLogin = (username: string, password: string): Promise<Reply> => invoke(login, { method: 'POST', route: '/api/login', json: { username, password } });

const fingerprint = (line: string): string => parsePublicKey(line).fingerprint;
const key = (line: string, group: string) => ({ name: 'laptop', key: line, fingerprint: fingerprint(line), hostGroups: [group] });

/** How an audit line names a plain key: its key id and fingerprint. */
const keyIdentity = (line: string): unknown => expect.stringMatching(new RegExp(`^key keyid \\d+ ${fingerprint(line).replace(/[+/]/g, '\\$&')}$`));

const audits = (): Line[] => lines.filter((line) => line.message === 'audit');
/** The values an audit line lists for an attribute, over all its changes of `operation`. */
const valuesOf = (line: Line | undefined, attribute: string, operation: string): string[] =>
  ((line?.changes ?? []) as { attribute: string; operation: string; values: string[] }[])
    .filter((c) => c.attribute.toLowerCase() === attribute.toLowerCase() && c.operation === operation)
    .flatMap((c) => c.values);

/** The EMF metric lines written, by metric name: the values of each. */
const metricValues = (name: string): number[] =>
  lines.flatMap((line) => {
    const aws = line._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined;
    const named = aws?.CloudWatchMetrics?.some((m) => m.Metrics.some((metric) => metric.Name === name)) ?? false;
    return named ? [line[name] as number | number[]].flat() : [];
  });

beforeAll(async () => {
  admin = await tokenOf('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  for (const name of created) await remove(name);
});

describe('audit lines, with LOG_LEVEL=silent', () => {
  it('of a create, an update and a delete: who, which entry, which attributes, values by identity, never a password', async () => {
    const name = uniqueName('aud');
    const first = ed25519Line(`${name}@laptop`);
    const second = ed25519Line(`${name}@desktop`);
    const reply = await create({
      cn: name, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Audit', sn: 'Trail',
      duration: 1, durationUnit: 'Days', memberOfs: [groupDN('demo_servers')], sshPublicKeys: [key(first, groupDN('demo_servers'))],
    });
    expect(reply.status, reply.text).toBe(201);
    created.push(name);
    const requestId = (line: Line) => line.requestId;

    // Nothing at all but audit lines (and metrics): LOG_LEVEL=silent left out the request line.
    expect(lines.filter((line) => line.message === 'request')).toEqual([]);
    const onCreate = audits();
    const add = onCreate.find((line) => line.operation === 'add' && line.dn === userDN(name));
    expect(add).toMatchObject({ caller: 'admin', route: 'POST /api/users', outcome: 'done', undo: false, level: 'INFO' });
    expect(typeof add!.requestId).toBe('string');
    expect(onCreate.every((line) => requestId(line) === add!.requestId)).toBe(true);
    expect(valuesOf(add, 'cn', 'add')).toEqual([name]);
    expect(valuesOf(add, 'sshPublicKey', 'add')).toEqual([`key keyid 0 ${fingerprint(first)}`]);
    // Membership: the group's entry gets the user's DN, as written.
    const joined = onCreate.find((line) => line.dn === groupDN('demo_servers'));
    expect(valuesOf(joined, 'member', 'add')).toEqual([userDN(name)]);
    // The password: that it was set, on which entry; never its value.
    expect(onCreate.find((line) => line.operation === 'password')).toMatchObject({ dn: userDN(name), changes: [{ attribute: 'userPassword', values: ['password changed'] }] });

    // An update: a key removed (its stored object sent back, as Keyper's console does) and one
    // added, the password changed, another group.
    lines.length = 0;
    const stored = ((await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name }, token: admin })).body as { sshPublicKeys: unknown[] }[])[0]!;
    const updated = await update(name, {
      userPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, memberOfs: [groupDN('web1')], sshPublicKeys: [stored.sshPublicKeys[0], key(second, groupDN('web1'))],
    });
    expect(updated.status, updated.text).toBe(200);
    expect(stored.sshPublicKeys).toHaveLength(1);
    const onUpdate = audits();
    expect(onUpdate.length).toBeGreaterThan(0);
    expect(onUpdate.every((line) => line.caller === 'admin' && line.route === 'PUT /api/users/{name}' && line.outcome === 'done')).toBe(true);
    const keyChanges = onUpdate.filter((line) => line.dn === userDN(name));
    expect(keyChanges.flatMap((line) => valuesOf(line, 'sshPublicKey', 'add'))).toEqual([keyIdentity(second)]);
    expect(keyChanges.flatMap((line) => valuesOf(line, 'sshPublicKey', 'delete'))).toEqual([keyIdentity(first)]);
    expect(onUpdate.flatMap((line) => (line.dn === groupDN('web1') ? valuesOf(line, 'member', 'add') : []))).toEqual([userDN(name)]);
    expect(onUpdate.flatMap((line) => (line.dn === groupDN('demo_servers') ? valuesOf(line, 'member', 'delete') : []))).toEqual([userDN(name)]);
    expect(onUpdate.filter((line) => line.operation === 'password').map((line) => line.dn)).toEqual([userDN(name)]);

    // A delete: the entry, and its memberships.
    lines.length = 0;
    expect((await remove(name)).status).toBe(200);
    created.splice(created.indexOf(name), 1);
    const onDelete = audits();
    expect(onDelete.find((line) => line.operation === 'delete')).toMatchObject({ dn: userDN(name), caller: 'admin', route: 'DELETE /api/users/{name}', outcome: 'done' });
    expect(onDelete.flatMap((line) => (line.dn === groupDN('web1') ? valuesOf(line, 'member', 'delete') : []))).toEqual([userDN(name)]);

    // No line of the three requests holds a password, or a key's text.
    const written = JSON.stringify([onCreate, onUpdate, onDelete]);
    for (const secret of [PASSWORD, NEW_PASSWORD, first.split(' ')[1]!, second.split(' ')[1]!]) expect(written).not.toContain(secret);
  });

  it('of a logout: the session value by what it is, never the session id', async () => {
    const token = await tokenOf('admin', ADMIN_PASSWORD);
    lines.length = 0;
    expect((await invoke(logout, { method: 'DELETE', route: '/api/logout', token })).status).toBeLessThan(300);
    const session = audits().filter((line) => line.dn === userDN('admin'));
    expect(session.length).toBeGreaterThan(0);
    expect(session.flatMap((line) => valuesOf(line, 'labeledURI', 'add'))).toEqual(['revoked session']);
    expect(JSON.stringify(session)).not.toContain('urn:keyper');
  });
});

describe('audit lines of an undo', () => {
  it('mark the writes that put back a failed write\'s first steps', async () => {
    const note = uniqueName('undo-note-');
    await expect(
      withDirectory((client) =>
        allOrNothing(client, async (journal) => {
          await addValues(journal, groupDN('web2'), 'description', [note]);
          throw new Error('a later step failed');
        }),
      ),
    ).rejects.toThrow('a later step failed');
    const about = audits().filter((line) => line.dn === groupDN('web2'));
    expect(about.map((line) => [line.undo, valuesOf(line, 'description', 'add'), valuesOf(line, 'description', 'delete')])).toEqual([
      [false, [note], []],
      [true, [], [note]],
    ]);
  });
});

describe('the request line', () => {
  it('has the request id, route, status, duration and caller, and Powertools\' Lambda context', async () => {
    process.env.LOG_LEVEL = 'info';
    const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'alice' }, token: admin }, { awsRequestId: 'req-line-test' });
    expect(reply.status).toBe(200);
    const request = lines.filter((line) => line.message === 'request');
    expect(request).toHaveLength(1);
    expect(request[0]).toMatchObject({
      level: 'INFO', requestId: 'req-line-test', route: 'GET /api/users/{name}', status: 200, durationMs: expect.any(Number), caller: 'admin',
      function_request_id: 'req-line-test', function_name: 'test', function_version: '$LATEST', cold_start: expect.any(Boolean), service: expect.any(String),
    });
  });
});

describe('metrics (EMF lines)', () => {
  it('count logins, refused passwords and the lockout they cause', async () => {
    expect((await tryLogin('admin', ADMIN_PASSWORD)).status).toBe(200);
    expect(metricValues('Logins')).toEqual([1]);
    const name = uniqueName('met');
    expect((await create({ cn: name, userPassword: PASSWORD, confirmPassword: PASSWORD, givenName: 'Lock', sn: 'Out', duration: 1, durationUnit: 'Days', memberOfs: [] })).status).toBe(201);
    created.push(name);
    lines.length = 0;
    for (let i = 0; i < 5; i += 1) expect((await tryLogin(name, 'wrong-password')).status).toBe(401);
    expect(metricValues('LoginFailures')).toEqual([1, 1, 1, 1, 1]);
    expect(metricValues('Lockouts')).toEqual([1]);
    expect(metricValues('DirectoryLatency').length).toBeGreaterThan(0);
    const emf = lines.find((line) => line._aws !== undefined);
    expect(emf?._aws).toMatchObject({ CloudWatchMetrics: [{ Namespace: expect.any(String), Dimensions: [['service']] }] });
  });

  it('count 503 answers', async () => {
    const saved = process.env.LDAP_URL;
    process.env.LDAP_URL = 'ldap://127.0.0.1:1';
    reloadConfig();
    try {
      const reply = await invoke(getUser, { method: 'GET', route: '/api/users/{name}', pathParameters: { name: 'alice' }, token: admin });
      expect(reply.status).toBe(503);
    } finally {
      process.env.LDAP_URL = saved;
      reloadConfig();
    }
    expect(metricValues('ServiceUnavailable')).toEqual([1]);
  });
});
