// The set-up of `npm start` and `npm test` (scripts/bootstrap.mjs): its decisions as pure
// functions, and the script itself run as a child process with a program missing from PATH.
// Every run here sets KEYPER_BOOTSTRAP_NO_INSTALL and a PATH without apt-get, sudo or npm, so
// nothing can be installed while testing.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  candidates,
  detectPlatform,
  installPlan,
  lockMismatch,
  main,
  missingPrograms,
  modulesState,
  requirements,
  type Platform,
} from '../../scripts/bootstrap.mjs';

const BOOTSTRAP = fileURLToPath(new URL('../../scripts/bootstrap.mjs', import.meta.url));
const programsOf = (list: { program: string }[]): string[] => list.map((r) => r.program);

describe('requirements', () => {
  it('npm start needs slapd and the OpenLDAP tools', () => {
    expect(programsOf(requirements('start', { root: false }))).toEqual(['slapd', 'ldapadd', 'ldapmodify']);
    expect(programsOf(requirements('start', { root: true }))).toEqual(['slapd', 'ldapadd', 'ldapmodify']);
  });

  it('npm test adds ssh-keygen and curl, and sshd and ssh only as root (the real-sshd test is skipped otherwise)', () => {
    expect(programsOf(requirements('test', { root: false }))).toEqual(['slapd', 'ldapadd', 'ldapmodify', 'ssh-keygen', 'curl']);
    expect(programsOf(requirements('test', { root: true }))).toEqual(['slapd', 'ldapadd', 'ldapmodify', 'ssh-keygen', 'curl', 'sshd', 'ssh']);
  });

  it('names the Debian package and the Homebrew formula of each', () => {
    const byProgram = Object.fromEntries(requirements('test', { root: true }).map((r) => [r.program, [r.apt, r.brew]]));
    expect(byProgram).toEqual({
      slapd: ['slapd', 'openldap'],
      ldapadd: ['ldap-utils', 'openldap'],
      ldapmodify: ['ldap-utils', 'openldap'],
      'ssh-keygen': ['openssh-client', 'openssh'],
      curl: ['curl', 'curl'],
      sshd: ['openssh-server', 'openssh'],
      ssh: ['openssh-client', 'openssh'],
    });
  });
});

describe('candidates and missingPrograms', () => {
  it('looks on PATH first, then in the sbin directories a non-root PATH often lacks', () => {
    expect(candidates('sshd', { PATH: '/opt/bin:/usr/bin' })).toEqual([
      '/opt/bin/sshd', '/usr/bin/sshd', '/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd',
    ]);
  });

  it('looks for slapd also where Homebrew and other systems keep it, and only at SLAPD_BIN when set', () => {
    const slapd = candidates('slapd', { PATH: '/usr/bin' });
    expect(slapd.slice(0, 2)).toEqual(['/usr/bin/slapd', '/usr/sbin/slapd']);
    expect(slapd).toContain('/opt/homebrew/opt/openldap/libexec/slapd');
    expect(new Set(slapd).size).toBe(slapd.length);
    expect(candidates('slapd', { PATH: '/usr/bin', SLAPD_BIN: '/x/slapd' })).toEqual(['/x/slapd']);
  });

  it('reports the programs found nowhere', () => {
    const present = new Set(['/usr/sbin/slapd', '/usr/bin/ldapmodify', '/usr/bin/curl']);
    const missing = missingPrograms(requirements('test', { root: false }), { PATH: '/usr/bin' }, (file) => present.has(file));
    expect(programsOf(missing)).toEqual(['ldapadd', 'ssh-keygen']);
    expect(missingPrograms(requirements('start', { root: false }), { PATH: '/usr/bin', SLAPD_BIN: '/usr/sbin/slapd' }, () => false).length).toBe(3);
  });
});

describe('installPlan', () => {
  const missing = requirements('test', { root: true }).filter((r) => ['slapd', 'ldapadd', 'ldapmodify', 'sshd'].includes(r.program));
  const linux: Platform = { os: 'linux', debian: true, root: true, sudo: false, brew: undefined };
  const apt = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
  const packages = ['slapd', 'ldap-utils', 'openssh-server'];

  it('Debian as root: apt-get update, then install each package once without recommends', () => {
    expect(installPlan(linux, missing)).toEqual({
      run: [[...apt, 'update'], [...apt, 'install', '-y', '--no-install-recommends', ...packages]],
      manual: 'apt-get update && apt-get install -y --no-install-recommends slapd ldap-utils openssh-server',
      reason: undefined,
    });
  });

  it('Debian through sudo only when it needs no password', () => {
    const plan = installPlan({ ...linux, root: false, sudo: true }, missing);
    expect(plan.run).toEqual([['sudo', '-n', ...apt, 'update'], ['sudo', '-n', ...apt, 'install', '-y', '--no-install-recommends', ...packages]]);
    expect(plan.manual).toBe('sudo apt-get update && sudo apt-get install -y --no-install-recommends slapd ldap-utils openssh-server');
  });

  it('Debian without root or passwordless sudo: nothing to run, the command to type', () => {
    const plan = installPlan({ ...linux, root: false, sudo: false }, missing);
    expect(plan.run).toBeUndefined();
    expect(plan.reason).toMatch(/root/);
    expect(plan.manual).toBe('sudo apt-get update && sudo apt-get install -y --no-install-recommends slapd ldap-utils openssh-server');
  });

  it('macOS: brew install, never as root, and how to get Homebrew when it is absent', () => {
    const mac: Platform = { os: 'darwin', debian: false, root: false, sudo: false, brew: '/opt/homebrew/bin/brew' };
    expect(installPlan(mac, missing)).toEqual({ run: [['/opt/homebrew/bin/brew', 'install', 'openldap', 'openssh']], manual: 'brew install openldap openssh', reason: undefined });
    expect(installPlan({ ...mac, root: true }, missing).run).toBeUndefined();
    const noBrew = installPlan({ ...mac, brew: undefined }, missing);
    expect(noBrew.run).toBeUndefined();
    expect(noBrew.manual).toBe('install Homebrew (https://brew.sh), then: brew install openldap openssh');
  });

  it('another system: nothing to run; names the programs and the Debian packages', () => {
    const plan = installPlan({ os: 'linux', debian: false, root: true, sudo: false, brew: undefined }, missing);
    expect(plan.run).toBeUndefined();
    expect(plan.manual).toContain('slapd, ldapadd, ldapmodify, sshd');
    expect(plan.manual).toContain('slapd ldap-utils openssh-server');
  });
});

describe('modulesState', () => {
  const lock = {
    packages: {
      '': { version: '0.1.0' },
      'node_modules/ldapts': { version: '8.2.0' },
      'node_modules/@esbuild/darwin-arm64': { version: '0.28.2', optional: true },
      'node_modules/fsevents': { version: '2.3.3', devOptional: true },
    },
  };
  const installed = { packages: { 'node_modules/ldapts': { version: '8.2.0' } } };

  it('is fresh when every package the lock requires is installed at its version; optional ones may be absent', () => {
    expect(modulesState(lock, installed)).toEqual({ state: 'fresh' });
  });

  it('is missing without npm’s record of an install', () => {
    expect(modulesState(lock, undefined)).toEqual({ state: 'missing' });
  });

  it('is stale, naming the packages, when one is absent, at another version, or no longer in the lock', () => {
    expect(modulesState(lock, { packages: {} })).toEqual({ state: 'stale', differing: ['node_modules/ldapts'] });
    expect(lockMismatch(lock, { packages: { 'node_modules/ldapts': { version: '8.1.0' } } })).toEqual(['node_modules/ldapts']);
    expect(lockMismatch(lock, { packages: { ...installed.packages, 'node_modules/left-pad': { version: '1.0.0' } } })).toEqual(['node_modules/left-pad']);
  });
});

describe('the bootstrap script', () => {
  let bin: string;
  let project: string;
  const stub = (dir: string, name: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o755);
    return file;
  };
  /** Every program a test run as root needs, except those named. */
  const pathWithout = (...absent: string[]): string => {
    const dir = mkdtempSync(path.join(bin, 'path-'));
    for (const { program } of requirements('test', { root: true })) if (!absent.includes(program)) stub(dir, program);
    return dir;
  };
  const env = (PATH: string): Record<string, string> => ({ PATH, KEYPER_BOOTSTRAP_NO_INSTALL: '1', SLAPD_BIN: path.join(PATH, 'slapd') });

  beforeAll(() => {
    bin = mkdtempSync(path.join(tmpdir(), 'keyper-bootstrap-'));
    project = mkdtempSync(path.join(tmpdir(), 'keyper-bootstrap-project-'));
  });
  afterAll(() => {
    rmSync(bin, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
  });

  it('stops with a non-zero exit code and the command that installs a program missing from PATH', async () => {
    const child = promisify(execFile)(process.execPath, [BOOTSTRAP, 'test'], { env: env(pathWithout('ldapadd')) });
    const failed = await child.then(() => undefined, (error: { code?: number; stdout: string; stderr: string }) => error);
    expect(failed?.code).toBe(1);
    const expected = installPlan(detectPlatform(process.env), requirements('test', { root: false }).filter((r) => r.program === 'ldapadd'));
    expect(failed?.stderr).toContain(`ldapadd`);
    expect(failed?.stderr).toContain(`Run this, then \`npm test\` again:\n  ${expected.manual}\n`);
    expect(failed?.stderr).toContain('ldap-utils');
  });

  it('says nothing and exits 0 when every program is there and node_modules matches the lock', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BOOTSTRAP, 'test'], { env: env(pathWithout()) });
    expect({ stdout, stderr }).toEqual({ stdout: '', stderr: '' });
  });

  it('refuses to run npm ci through a linked node_modules that does not match the lock', () => {
    const lock = { packages: { '': {}, 'node_modules/ldapts': { version: '8.2.0' } } };
    writeFileSync(path.join(project, 'package-lock.json'), JSON.stringify(lock));
    const shared = path.join(project, 'shared-modules');
    mkdirSync(shared);
    writeFileSync(path.join(shared, '.package-lock.json'), JSON.stringify({ packages: { 'node_modules/ldapts': { version: '8.1.0' } } }));
    symlinkSync(shared, path.join(project, 'node_modules'));

    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(main(['start'], env(pathWithout()), project)).toBe(1);
      const message = errors.mock.calls.flat().join('\n');
      expect(message).toContain('node_modules differs from package-lock.json (node_modules/ldapts)');
      expect(message).toContain(`it is a link to ${shared}`);
      expect(message).toContain('rm node_modules && npm ci');
    } finally {
      errors.mockRestore();
    }
  });

  it('with a real node_modules folder, stops with `npm ci` to run when installing is not allowed', () => {
    const own = mkdtempSync(path.join(project, 'own-'));
    writeFileSync(path.join(own, 'package-lock.json'), JSON.stringify({ packages: { 'node_modules/ldapts': { version: '8.2.0' } } }));
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(main(['start'], env(pathWithout()), own)).toBe(1);
      expect(errors.mock.calls.flat().join('\n')).toMatch(/node_modules is missing\. Not installing \(KEYPER_BOOTSTRAP_NO_INSTALL is set\)\. Run: npm ci$/);
    } finally {
      errors.mockRestore();
    }
  });
});
