// The local directory (scripts/directory.ts) against a real slapd: Keyper's seed layout, memberOf,
// hashed passwords, the lockout policy, placeholder members, reuse and reset of the data, and a
// clean stop. Each run uses its own temp dir and free port, so it never touches `.local/`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Attribute, Change, Client, InvalidCredentialsError, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeholderMember } from '../../lib/layout.js';
import { DEMO_PASSWORDS, startDirectory, type DirectoryOptions, type RunningDirectory } from '../../scripts/directory.js';
import { freePort, portInUse } from '../../scripts/ports.js';

const BASE = 'dc=keyper,dc=example,dc=org';
const MANAGER = `cn=Manager,${BASE}`;
const dnOf = {
  user: (name: string) => `cn=${name},ou=people,${BASE}`,
  host: (name: string) => `cn=${name},ou=Hosts,${BASE}`,
  group: (name: string) => `cn=${name},ou=groups,${BASE}`,
};

/** ldapts answers one value as a string and several as an array (binary ones as Buffers). */
const values = (entry: Entry | undefined, attribute: string): string[] => {
  const value = entry?.[attribute];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('local directory', { timeout: 20_000 }, () => {
  let dataDir: string;
  let port: number;
  let directory: RunningDirectory | undefined;

  const options = (extra: Partial<DirectoryOptions> = {}): DirectoryOptions => ({
    dataDir,
    port,
    baseDN: BASE,
    bindDN: MANAGER,
    bindPassword: 'test-manager',
    adminPassword: 'test-admin',
    ...extra,
  });

  /** Stops the running directory and checks that slapd is gone and the port is free again. */
  const stop = async (): Promise<void> => {
    const running = directory;
    directory = undefined;
    if (!running) return;
    await running.stop();
    expect(isAlive(running.pid)).toBe(false);
    expect(await portInUse(port)).toBe(false);
  };
  const restart = async (extra: Partial<DirectoryOptions>): Promise<void> => {
    await stop();
    directory = await startDirectory(options(extra));
  };

  const client = (): Client => new Client({ url: directory?.url ?? 'ldap://127.0.0.1:1', connectTimeout: 2_000, timeout: 5_000 });
  const asManager = async <T>(work: (c: Client) => Promise<T>): Promise<T> => {
    const c = client();
    try {
      await c.bind(MANAGER, 'test-manager');
      return await work(c);
    } finally {
      await c.unbind();
    }
  };
  const read = (dn: string, attributes: string[] = ['*']): Promise<Entry | undefined> =>
    asManager(async (c) => (await c.search(dn, { scope: 'base', attributes })).searchEntries[0]);
  const names = (parent: string): Promise<string[]> =>
    asManager(async (c) =>
      (await c.search(parent, { scope: 'one', attributes: ['cn'] })).searchEntries.flatMap((e) => values(e, 'cn')).sort(),
    );
  const canBind = async (dn: string, password: string): Promise<boolean> => {
    const c = client();
    try {
      await c.bind(dn, password);
      return true;
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return false;
      throw error;
    } finally {
      await c.unbind();
    }
  };

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyper-directory-'));
    port = await freePort();
    directory = await startDirectory(options({ reset: true }));
  });

  afterAll(async () => {
    await stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('seeds the Keyper layout with demo data', async () => {
    expect(directory?.url).toBe(`ldap://127.0.0.1:${port}`);
    expect(await names(`ou=people,${BASE}`)).toEqual(['admin', 'alice', 'bob']);
    expect(await names(`ou=Hosts,${BASE}`)).toEqual(['web1', 'web2']);
    expect(await names(`ou=groups,${BASE}`)).toEqual(['AllHosts', 'KeyperAdmins', 'demo_servers', 'web1', 'web2']);

    const policy = await read(`cn=default,ou=policies,${BASE}`);
    expect(values(policy, 'pwdMaxFailure')).toEqual(['5']);
    expect(values(policy, 'pwdLockout')).toEqual(['TRUE']);
    expect(values(policy, 'pwdFailureCountInterval')).toEqual(['300']);
    expect(values(policy, 'pwdLockoutDuration')).toEqual(['900']);
    expect(values(await read(`cn=nolockout,ou=policies,${BASE}`), 'pwdLockout')).toEqual(['FALSE']);
    expect(values(await read(dnOf.user('admin'), ['pwdPolicySubentry']), 'pwdPolicySubentry')).toEqual([`cn=nolockout,ou=policies,${BASE}`]);

    const admin = await read(dnOf.user('admin'));
    expect(values(admin, 'displayName')).toEqual(['Keyper Admin']);
    expect(values(admin, 'uid')).toEqual(['admin']);
    const alice = await read(dnOf.user('alice'));
    expect(values(alice, 'objectClass')).toEqual(expect.arrayContaining(['inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject']));
    expect(values(alice, 'mail')).toEqual(['alice@keyper.example.org']);
    expect(JSON.parse(values(alice, 'info')[0] ?? '')).toEqual({ duration: 1, durationUnit: 'Days' });
    expect(values(await read(dnOf.host('web1')), 'description')).toEqual(['Demo web server']);
    expect(values(await read(dnOf.group('web1')), 'description')).toEqual(['web1 Autocreated Group']);
  });

  it('maintains memberOf from group members', async () => {
    expect(values(await read(dnOf.user('alice'), ['memberOf']), 'memberOf')).toEqual([dnOf.group('demo_servers')]);
    expect(values(await read(dnOf.user('admin'), ['memberOf']), 'memberOf')).toEqual([dnOf.group('KeyperAdmins')]);
    expect(values(await read(dnOf.host('web1'), ['memberOf']), 'memberOf').sort()).toEqual([dnOf.group('AllHosts'), dnOf.group('demo_servers'), dnOf.group('web1')]);
  });

  it('stores passwords as {SSHA} and lets users bind with them', async () => {
    expect(values(await read(dnOf.user('alice'), ['userPassword']), 'userPassword')[0]).toMatch(/^\{SSHA\}/);
    expect(await canBind(dnOf.user('alice'), DEMO_PASSWORDS.alice)).toBe(true);
    expect(await canBind(dnOf.user('admin'), 'test-admin')).toBe(true);
    expect(await canBind(dnOf.user('admin'), 'wrong')).toBe(false);
  });

  it('shows nothing to anonymous clients', async () => {
    const c = client();
    try {
      const found = await c.search(BASE, { scope: 'sub' }).then(
        (result) => result.searchEntries.length,
        () => 0, // noSuchObject: the ACLs hide even the base entry
      );
      expect(found).toBe(0);
    } finally {
      await c.unbind();
    }
  });

  it('locks an account after 5 failed binds', async () => {
    for (let attempt = 0; attempt < 5; attempt++) expect(await canBind(dnOf.user('bob'), 'wrong')).toBe(false);
    expect(values(await read(dnOf.user('bob'), ['pwdAccountLockedTime']), 'pwdAccountLockedTime')).toHaveLength(1);
    expect(await canBind(dnOf.user('bob'), DEMO_PASSWORDS.bob)).toBe(false);
  });

  it('replaces the last member of a group with the placeholder when it is deleted', async () => {
    await asManager((c) => c.del(dnOf.host('web2')));
    // refint rewrites references in a background task after the delete has answered.
    await expect
      .poll(async () => values(await read(dnOf.group('web2'), ['member']), 'member'), { timeout: 2_000 })
      .toEqual([placeholderMember(BASE)]);
    expect(values(await read(dnOf.group('AllHosts'), ['member']), 'member')).toEqual([dnOf.host('web1')]);
  });

  it('reuses the data when started again without reset', async () => {
    const change = new Change({ operation: 'add', modification: new Attribute({ type: 'description', values: ['survives'] }) });
    await asManager((c) => c.modify(dnOf.user('alice'), change));
    await restart({ reset: false });
    expect(values(await read(dnOf.user('alice')), 'description')).toEqual(['survives']);
    expect(await names(`ou=Hosts,${BASE}`)).toEqual(['web1']);
    expect(await canBind(dnOf.user('bob'), DEMO_PASSWORDS.bob)).toBe(false);
  });

  it('reseeds when started with reset', async () => {
    await restart({ reset: true });
    expect(values(await read(dnOf.user('alice')), 'description')).toEqual([]);
    expect(await names(`ou=Hosts,${BASE}`)).toEqual(['web1', 'web2']);
    expect(await canBind(dnOf.user('bob'), DEMO_PASSWORDS.bob)).toBe(true);
  });

  it('seeds AllHosts with the placeholder member when there is no demo data', async () => {
    await restart({ reset: true, demo: false });
    expect(await names(`ou=people,${BASE}`)).toEqual(['admin']);
    expect(await names(`ou=Hosts,${BASE}`)).toEqual([]);
    expect(await names(`ou=groups,${BASE}`)).toEqual(['AllHosts', 'KeyperAdmins']);
    expect(values(await read(dnOf.group('AllHosts'), ['member']), 'member')).toEqual([placeholderMember(BASE)]);
  });

  it('refuses a busy port', async () => {
    const otherDir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyper-directory-'));
    try {
      await expect(startDirectory({ ...options(), dataDir: otherDir })).rejects.toThrow(/already in use/);
    } finally {
      await fs.rm(otherDir, { recursive: true, force: true });
    }
  });

  it('removes a stale pid file and stops cleanly', async () => {
    await stop();
    // The pid of a process that has certainly exited: one we ran to completion.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    await fs.writeFile(path.join(dataDir, 'slapd.pid'), `${deadPid}\n`);
    directory = await startDirectory(options());
    expect(directory.pid).not.toBe(deadPid);
    expect(await names(`ou=people,${BASE}`)).toEqual(['admin']);
    await stop();
    expect(existsSync(path.join(dataDir, 'slapd.pid'))).toBe(false);
  });
});
