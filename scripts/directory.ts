// The local private directory: finds slapd, renders local/slapd.conf.template into a data
// directory, runs slapd there on 127.0.0.1 and seeds Keyper's layout (`ou=people`, `ou=groups`,
// `ou=Hosts`; README.md, "Switching from Keyper") through the running server. Used by
// `npm run directory`, local start-up and the tests.
// Run directly (`tsx scripts/directory.ts [--reset]`) it stays in the foreground until Ctrl-C.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from 'ldapts';
import { entityDN } from '../lib/dn.js';
import {
  ADMIN_GROUP,
  ADMIN_USER,
  CONTAINER_OBJECT_CLASSES,
  CONTAINERS,
  GROUP_OBJECT_CLASSES,
  HOST_OBJECT_CLASSES,
  HOSTS_GROUP,
  placeholderMember,
  USER_OBJECT_CLASSES,
} from '../lib/layout.js';
import { expiryAfter, keyValue } from '../lib/keys.js';
import { parsePublicKey } from '../lib/sshkeys.js';
import { DEFAULT_VALIDITY, infoValue } from '../lib/validity.js';
import { candidates, isExecutable } from './bootstrap.mjs';
import { portInUse } from './ports.js';

export interface DirectoryOptions {
  /** Where slapd.conf, the pid/args/log files and the mdb database (`db/`) live. */
  dataDir: string;
  port: number;
  baseDN: string;
  /** The service account: slapd's rootdn. Must lie inside baseDN (slapd only allows rootpw then). */
  bindDN: string;
  bindPassword: string;
  /** Password of the built-in `admin` user; only used when seeding. */
  adminPassword: string;
  /** Wipe the database and seed again even if data exists. */
  reset?: boolean;
  /** Seed demo users, hosts and groups too (default true). Only used when seeding. */
  demo?: boolean;
  /** Progress lines (start, seed, stop); silent by default. */
  log?: (line: string) => void;
  /**
   * Server-side sorting and virtual list views (the sssvlv overlay), which Keyper's directory
   * lacks: for tests of the paging path that uses them. Off by default.
   */
  sortedViews?: boolean;
  /**
   * Lines added to the database section after the indexes: `dbnosync` for a throwaway directory
   * seeded in bulk (the benchmark), limits and access rules for tests of another service account.
   */
  databaseConfig?: string[];
  /** slapd's debug level (`-d`), written to <dataDir>/slapd.log; `none` (the default) logs only failures. */
  debugLevel?: 'none' | 'filter' | 'stats';
  /**
   * TLS (tests of it, scripts/testtls.ts): StartTLS on the ldap:// listener with this certificate,
   * and an ldaps:// listener on `ldapsPort`. Off by default.
   */
  tls?: { certFile: string; keyFile: string; caFile: string; ldapsPort: number };
}

export interface RunningDirectory {
  url: string;
  /** ldaps://127.0.0.1:<ldapsPort> when started with `tls`. */
  ldapsUrl?: string;
  pid: number;
  stop(): Promise<void>;
}

/** Passwords of the demo users, so local clients and tests can log in as them. */
export const DEMO_PASSWORDS = Object.freeze({ alice: 'alice-demo', bob: 'bob-demo' }) satisfies Record<string, string>;

/**
 * Alice's demo SSH key (the public half only): its hostGroups name `demo_servers`, which holds
 * alice and the host web1, so `/api/authkeys?username=alice&host=web1` answers it (README, "Keys,
 * groups and hosts"). Valid for a year from the seed: demo data outlives a day's restarts.
 */
export const DEMO_KEY = Object.freeze({
  user: 'alice',
  name: 'laptop',
  line: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbtjlBDrM2nFCG40iF/VecL+eFdHWK2Tt6og5c+Cbos alice@demo',
  group: 'demo_servers',
  host: 'web1',
});

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const localDir = path.join(repoRoot, 'local');

/** Options from the environment; a relative LOCAL_DATA_DIR is taken from the repo root. */
export function directoryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DirectoryOptions {
  const baseDN = env.LDAP_BASE_DN || 'dc=keyper,dc=example,dc=org';
  const port = Number(env.LDAP_PORT || 3389);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`LDAP_PORT must be a TCP port number, got ${JSON.stringify(env.LDAP_PORT)}`);
  }
  return {
    dataDir: path.resolve(repoRoot, env.LOCAL_DATA_DIR || '.local'),
    port,
    baseDN,
    bindDN: env.LDAP_BIND_DN || `cn=Manager,${baseDN}`,
    bindPassword: env.LDAP_BIND_PASSWORD || 'keyper-manager',
    adminPassword: env.KEYPER_ADMIN_PASSWORD || 'keyper-admin',
  };
}

// ---------------------------------------------------------------------------------------------
// Finding slapd, its modules and schemas

const INSTALL_HINT =
  'Install OpenLDAP: Debian/Ubuntu `sudo apt-get install slapd ldap-utils`, macOS `brew install openldap` ' +
  '(or set SLAPD_BIN to the slapd executable).';

const MODULE_DIRS = [
  '/usr/lib/ldap',
  '/usr/lib/openldap',
  '/usr/lib64/openldap',
  '/usr/libexec/openldap',
  '/usr/local/libexec/openldap',
  '/usr/local/lib/openldap',
  '/opt/homebrew/opt/openldap/libexec/openldap',
  '/usr/local/opt/openldap/libexec/openldap',
  '/opt/homebrew/libexec/openldap',
];
const SCHEMA_DIRS = [
  '/etc/ldap/schema',
  '/etc/openldap/schema',
  '/usr/local/etc/openldap/schema',
  '/opt/homebrew/etc/openldap/schema',
];
/** Module file name → the name slapd -VVV lists when it is linked in statically. */
const MODULES = { back_mdb: 'mdb', memberof: 'memberof', refint: 'refint', ppolicy: 'ppolicy' } as const;
const OPTIONAL_MODULES = { sssvlv: 'sssvlv' } as const;
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];

interface Slapd {
  bin: string;
  major: number;
  minor: number;
  /** Backends and overlays compiled into the binary (nothing to moduleload). */
  builtIn: Set<string>;
}

async function findSlapd(env: NodeJS.ProcessEnv): Promise<Slapd> {
  let bin: string | undefined;
  if (env.SLAPD_BIN) {
    if (!isExecutable(env.SLAPD_BIN)) throw new Error(`SLAPD_BIN=${env.SLAPD_BIN} is not an executable file. ${INSTALL_HINT}`);
    bin = env.SLAPD_BIN;
  } else {
    // The same places the bootstrap of `npm start` and `npm test` checks.
    bin = candidates('slapd', env).find(isExecutable);
  }
  if (!bin) throw new Error(`slapd (the OpenLDAP server) was not found. ${INSTALL_HINT}`);

  // -VVV prints the version and the statically linked backends/overlays, then exits (on stderr).
  const { stdout, stderr } = await promisify(execFile)(bin, ['-VVV'], { timeout: 10_000 }).catch(
    (error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
  const text = `${stdout}\n${stderr}`;
  const version = /slapd (\d+)\.(\d+)/.exec(text);
  if (!version) throw new Error(`${bin} -VVV did not report an OpenLDAP version:\n${text.trim()}`);
  const builtIn = new Set<string>();
  let inList = false;
  for (const line of text.split('\n')) {
    if (/^Included static (backends|overlays):/.test(line)) inList = true;
    else if (inList && /^\s+\S/.test(line)) builtIn.add(line.trim());
    else inList = false;
  }
  return { bin, major: Number(version[1]), minor: Number(version[2]), builtIn };
}

function findModuleDir(env: NodeJS.ProcessEnv, needed: string[]): string | undefined {
  if (needed.length === 0) return undefined;
  const dirs = env.SLAPD_MODULE_PATH ? [env.SLAPD_MODULE_PATH] : MODULE_DIRS;
  // ltdl resolves `moduleload back_mdb` to back_mdb.la / back_mdb.so, so either file will do.
  const has = (dir: string, name: string): boolean => existsSync(path.join(dir, `${name}.la`)) || existsSync(path.join(dir, `${name}.so`));
  const dir = dirs.find((candidate) => needed.every((name) => has(candidate, name)));
  if (!dir) {
    throw new Error(
      `slapd modules ${needed.join(', ')} not found in ${dirs.join(', ')}. ` +
        `Set SLAPD_MODULE_PATH to the directory holding back_mdb.so. ${INSTALL_HINT}`,
    );
  }
  return dir;
}

function findSchemaDir(env: NodeJS.ProcessEnv): string {
  const dirs = env.SLAPD_SCHEMA_DIR ? [env.SLAPD_SCHEMA_DIR] : SCHEMA_DIRS;
  const dir = dirs.find((candidate) => SCHEMAS.every((name) => existsSync(path.join(candidate, `${name}.schema`))));
  if (!dir) {
    throw new Error(`OpenLDAP schemas (${SCHEMAS.join(', ')}) not found in ${dirs.join(', ')}. Set SLAPD_SCHEMA_DIR. ${INSTALL_HINT}`);
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Configuration

// Only plain DNs: they are written into slapd.conf inside quotes and used to build seed DNs, so
// quotes, backslashes, escapes and multi-valued RDNs are refused rather than escaped.
const SIMPLE_DN = /^[A-Za-z][A-Za-z0-9-]*=[^,=+"\\<>;#\s][^,=+"\\<>;#\r\n]*(,[A-Za-z][A-Za-z0-9-]*=[^,=+"\\<>;#\s][^,=+"\\<>;#\r\n]*)*$/;
const CONF_SAFE_PATH = /^[^"\\\r\n]+$/;

function validate(o: DirectoryOptions): void {
  for (const [name, dn] of [['baseDN', o.baseDN], ['bindDN', o.bindDN]] as const) {
    if (!SIMPLE_DN.test(dn)) throw new Error(`${name} ${JSON.stringify(dn)} is not a plain DN such as dc=keyper,dc=example,dc=org`);
  }
  if (!o.bindDN.toLowerCase().endsWith(`,${o.baseDN.toLowerCase()}`)) {
    throw new Error(`bindDN ${o.bindDN} must lie inside baseDN ${o.baseDN}: slapd accepts a rootpw only there`);
  }
  if (!o.bindPassword || !o.adminPassword) throw new Error('bindPassword and adminPassword must not be empty');
  if (!CONF_SAFE_PATH.test(o.dataDir)) throw new Error(`dataDir ${JSON.stringify(o.dataDir)} must not contain quotes, backslashes or newlines`);
  for (const port of [o.port, ...(o.tls === undefined ? [] : [o.tls.ldapsPort])]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is not a TCP port number`);
  }
  for (const file of o.tls === undefined ? [] : [o.tls.certFile, o.tls.keyFile, o.tls.caFile]) {
    if (!CONF_SAFE_PATH.test(file)) throw new Error(`path ${JSON.stringify(file)} must not contain quotes, backslashes or newlines`);
  }
  for (const line of o.databaseConfig ?? []) if (/[\r\n]/.test(line)) throw new Error(`databaseConfig line ${JSON.stringify(line)} must be one line`);
}

/** RFC 2307 {SSHA}: base64(sha1(password + salt) + salt), what slappasswd produces. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

async function renderConfig(o: DirectoryOptions, slapd: Slapd, env: NodeJS.ProcessEnv): Promise<string> {
  const schemaDir = findSchemaDir(env);
  const schemaFiles = SCHEMAS.map((name) => path.join(schemaDir, `${name}.schema`));
  // Before 2.5 the ppolicy overlay needs its schema from a file; since 2.5 it defines it itself.
  const before25 = slapd.major < 2 || (slapd.major === 2 && slapd.minor < 5);
  if (before25) schemaFiles.push(path.join(schemaDir, 'ppolicy.schema'));
  schemaFiles.push(path.join(localDir, 'openssh-lpk.schema'));

  const toLoad = Object.entries({ ...MODULES, ...(o.sortedViews === true ? OPTIONAL_MODULES : {}) })
    .filter(([, builtInName]) => !slapd.builtIn.has(builtInName))
    .map(([file]) => file);
  const moduleDir = findModuleDir(env, toLoad);
  const modules = moduleDir ? [`modulepath "${moduleDir}"`, ...toLoad.map((name) => `moduleload ${name}`)] : ['# (none needed)'];

  for (const file of [...schemaFiles, moduleDir ?? '']) {
    if (file && !CONF_SAFE_PATH.test(file)) throw new Error(`path ${file} cannot be written into slapd.conf`);
  }
  const values: Record<string, string> = {
    includes: schemaFiles.map((file) => `include "${file}"`).join('\n'),
    modules: modules.join('\n'),
    dataDir: o.dataDir,
    baseDN: o.baseDN,
    bindDN: o.bindDN,
    rootpw: ssha(o.bindPassword),
    placeholderDN: placeholderMember(o.baseDN),
    databaseConfig: (o.databaseConfig ?? []).join('\n'),
    sortedViews: o.sortedViews === true ? 'overlay sssvlv' : '',
    tls: o.tls === undefined ? '' : [
      `TLSCACertificateFile "${o.tls.caFile}"`,
      `TLSCertificateFile "${o.tls.certFile}"`,
      `TLSCertificateKeyFile "${o.tls.keyFile}"`,
    ].join('\n'),
  };
  const template = await fs.readFile(path.join(localDir, 'slapd.conf.template'), 'utf8');
  return template.replace(/\{\{(\w+)\}\}/g, (match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`slapd.conf.template uses unknown placeholder ${match}`);
    return value;
  });
}

// ---------------------------------------------------------------------------------------------
// Seed data

type Attributes = Record<string, string | string[]>;
interface SeedEntry {
  dn: string;
  attributes: Attributes;
}

/** Default validity of keys and certificates for seeded users and hosts. */
const DEFAULT_INFO = infoValue(DEFAULT_VALIDITY);

/** Keyper's layout in creation order: parents first, members before the groups naming them. */
function seedEntries(o: DirectoryOptions): SeedEntry[] {
  const base = o.baseDN;
  const user = (name: string, givenName: string, sn: string, password: string): SeedEntry => ({
    dn: entityDN('user', name, base),
    attributes: {
      objectClass: USER_OBJECT_CLASSES,
      cn: name,
      uid: name,
      sn,
      givenName,
      displayName: `${givenName} ${sn}`,
      mail: `${name}@keyper.example.org`,
      pwdAttribute: 'userPassword',
      info: DEFAULT_INFO,
      // Cleartext on purpose: ppolicy_hash_cleartext stores it as {SSHA}, as for API writes.
      userPassword: password,
    },
  });
  const host = (name: string, description: string): SeedEntry => ({
    dn: entityDN('host', name, base),
    attributes: { objectClass: HOST_OBJECT_CLASSES, cn: name, description, info: DEFAULT_INFO },
  });
  const group = (name: string, description: string, members: string[]): SeedEntry => ({
    dn: entityDN('group', name, base),
    attributes: {
      objectClass: GROUP_OBJECT_CLASSES,
      cn: name,
      description,
      member: members.length > 0 ? members : [placeholderMember(base)],
    },
  });
  const ou = (name: string): SeedEntry => ({ dn: `ou=${name},${base}`, attributes: { objectClass: CONTAINER_OBJECT_CLASSES, ou: name } });

  const demo = o.demo ?? true;
  const admin = user(ADMIN_USER, 'Keyper', 'Admin', o.adminPassword);
  // The protected admin has a policy of its own that never locks it (see the README's Lockouts).
  admin.attributes.pwdPolicySubentry = `cn=nolockout,ou=policies,${base}`;
  const users = [admin];
  if (demo) users.push(user('alice', 'Alice', 'Liddell', DEMO_PASSWORDS.alice), user('bob', 'Bob', 'Builder', DEMO_PASSWORDS.bob));
  const hosts = demo ? [host('web1', 'Demo web server'), host('web2', 'Demo web server')] : [];
  const groups = [group(ADMIN_GROUP, 'Keyper administrators', [users[0]!.dn]), group(HOSTS_GROUP, 'All hosts', hosts.map((h) => h.dn))];
  if (demo) {
    // Users and a host in one group: the group through which alice's demo key opens web1.
    const demoServers = group(DEMO_KEY.group, 'Demo servers', [...users.slice(1).map((u) => u.dn), `cn=${DEMO_KEY.host},ou=Hosts,${base}`]);
    groups.push(demoServers);
    const parsed = parsePublicKey(DEMO_KEY.line);
    const key = { name: DEMO_KEY.name, key: parsed.line, fingerprint: parsed.fingerprint, hostGroups: [demoServers.dn] };
    const owner = users.find((u) => u.attributes.cn === DEMO_KEY.user);
    if (owner !== undefined) owner.attributes.sshPublicKey = keyValue(key, 0, expiryAfter(new Date(), { duration: 52, durationUnit: 'Weeks' }));
    for (const h of hosts) groups.push(group(String(h.attributes.cn), `${String(h.attributes.cn)} Autocreated Group`, [h.dn]));
  }

  // pwdPolicy is auxiliary; applicationProcess (core schema) is the cheapest structural class.
  const policy = (name: string, attributes: Attributes): SeedEntry => ({
    dn: `cn=${name},ou=policies,${base}`,
    attributes: { objectClass: ['top', 'applicationProcess', 'pwdPolicy'], cn: name, pwdAttribute: 'userPassword', ...attributes },
  });
  // The policies come first: ppolicy looks them up on every add and logs a warning while missing.
  return [
    baseEntry(base),
    ou('policies'),
    // 5 failed binds within 5 minutes lock the password for 15 minutes (the service's default
    // LOCKOUT_DURATION_SECONDS too); the lock ends at the first bind after that.
    policy('default', { pwdLockout: 'TRUE', pwdMaxFailure: '5', pwdFailureCountInterval: '300', pwdLockoutDuration: '900' }),
    policy('nolockout', { pwdLockout: 'FALSE' }),
    ou(CONTAINERS.user),
    ou(CONTAINERS.host),
    ou(CONTAINERS.group),
    ...users,
    ...hosts,
    ...groups,
  ];
}

/** The suffix entry itself, typed by the attribute of its first RDN. */
function baseEntry(baseDN: string): SeedEntry {
  const [attribute = '', value = ''] = (baseDN.split(',')[0] ?? '').split('=');
  switch (attribute.toLowerCase()) {
    case 'dc':
      return { dn: baseDN, attributes: { objectClass: ['top', 'dcObject', 'organization'], dc: value, o: 'Keyper' } };
    case 'o':
      return { dn: baseDN, attributes: { objectClass: ['top', 'organization'], o: value } };
    case 'ou':
      return { dn: baseDN, attributes: { objectClass: ['top', 'organizationalUnit'], ou: value } };
    default:
      throw new Error(`baseDN ${baseDN} must start with dc=, o= or ou=`);
  }
}

async function seed(url: string, o: DirectoryOptions): Promise<number> {
  const client = new Client({ url, connectTimeout: 2_000, timeout: 10_000 });
  try {
    await client.bind(o.bindDN, o.bindPassword);
    const entries = seedEntries(o);
    // One at a time and in order: memberof fills memberOf only for members that already exist.
    for (const entry of entries) {
      try {
        await client.add(entry.dn, entry.attributes);
      } catch (error) {
        throw new Error(`seeding ${entry.dn} failed: ${(error as Error).message}`, { cause: error });
      }
    }
    return entries.length;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Process management

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function readPid(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a live pid is (probably) a slapd: where /proc is missing, assume so and refuse. */
async function looksLikeSlapd(pid: number): Promise<boolean> {
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined ? true : cmdline.includes('slapd');
}

/** A pid file left by a slapd that died without cleaning up is removed; a live one is an error. */
async function clearStalePidFile(pidFile: string, log: (line: string) => void): Promise<void> {
  const pid = await readPid(pidFile);
  if (pid !== undefined && isAlive(pid) && (await looksLikeSlapd(pid))) {
    throw new Error(`slapd is already running on this data directory (pid ${pid}, ${pidFile}). Stop it first (kill ${pid}), or run this one with its own LOCAL_DATA_DIR, LDAP_PORT and PORT`);
  }
  if (existsSync(pidFile)) {
    log(`removing stale pid file ${pidFile}`);
    await fs.rm(pidFile, { force: true });
  }
}

async function readLog(logFile: string, from: number): Promise<string> {
  const text = await fs.readFile(logFile).catch(() => Buffer.alloc(0));
  return text.subarray(from).toString('utf8').trim() || '(empty)';
}

/**
 * Polls with a bind as the service account until slapd answers, slapd is gone (`gone()` says
 * why) or time runs out.
 */
async function waitUntilReady(url: string, o: DirectoryOptions, gone: () => string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    const reason = gone();
    if (reason) throw new Error(reason);
    const client = new Client({ url, connectTimeout: 500, timeout: 1_000 });
    try {
      await client.bind(o.bindDN, o.bindPassword);
      return;
    } catch (error) {
      lastError = (error as Error).message || String(error);
    } finally {
      await client.unbind().catch(() => undefined);
    }
    await sleep(25);
  }
  throw new Error(`slapd did not accept a bind on ${url} within ${timeoutMs / 1000} s (last error: ${lastError})`);
}

/** SIGTERM, then SIGKILL if slapd has not gone within `graceMs`. */
async function stopProcess(pid: number, child: ChildProcess, graceMs: number): Promise<void> {
  // Our own child: its exit event (which also reaps it) is the reliable signal that it is gone.
  const gone = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const waitGone = (ms: number): Promise<boolean> =>
    Promise.race([gone.then(() => true), sleep(ms).then(() => !isAlive(pid))]);
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  if (await waitGone(graceMs)) return;
  signal('SIGKILL');
  await waitGone(2_000);
}

/**
 * Starts slapd on 127.0.0.1:<port> with its data in `dataDir`, seeding a fresh database (or any
 * database when `reset`), and resolves once it accepts a bind as the service account.
 */
export async function startDirectory(o: DirectoryOptions): Promise<RunningDirectory> {
  const log = o.log ?? (() => undefined);
  const env = process.env;
  const started = Date.now();
  const dataDir = path.resolve(o.dataDir);
  const options: DirectoryOptions = { ...o, dataDir };
  validate(options);

  const slapd = await findSlapd(env);
  const files = {
    conf: path.join(dataDir, 'slapd.conf'),
    pid: path.join(dataDir, 'slapd.pid'),
    args: path.join(dataDir, 'slapd.args'),
    log: path.join(dataDir, 'slapd.log'),
    db: path.join(dataDir, 'db'),
    // Written after a complete seed: a database without it is a failed seed and is redone.
    marker: path.join(dataDir, 'seed.json'),
  };
  const url = `ldap://127.0.0.1:${o.port}`;
  const ldapsUrl = o.tls === undefined ? undefined : `ldaps://127.0.0.1:${o.tls.ldapsPort}`;

  await clearStalePidFile(files.pid, log);
  for (const port of [o.port, ...(o.tls === undefined ? [] : [o.tls.ldapsPort])]) {
    if (await portInUse(port)) {
      throw new Error(`port ${port} on 127.0.0.1 is already in use: stop what listens there or choose another port (LDAP_PORT)`);
    }
  }

  const seeded = existsSync(path.join(files.db, 'data.mdb')) && existsSync(files.marker);
  const fresh = (o.reset ?? false) || !seeded;
  if (!fresh) {
    const marker = JSON.parse(await fs.readFile(files.marker, 'utf8')) as { baseDN?: string };
    if (marker.baseDN?.toLowerCase() !== o.baseDN.toLowerCase()) {
      throw new Error(`${dataDir} holds a directory for ${marker.baseDN}, not ${o.baseDN}: start with reset (--reset) to recreate it`);
    }
  } else {
    // Only the files this module owns: dataDir may be a directory the user cares about.
    await Promise.all(
      [files.db, files.marker, files.args, files.log, files.conf].map((file) => fs.rm(file, { recursive: true, force: true })),
    );
  }
  await fs.mkdir(files.db, { recursive: true, mode: 0o700 });
  // Rewritten on every start so port, paths and the service password follow the options.
  await fs.writeFile(files.conf, await renderConfig(options, slapd, env), { mode: 0o600 });
  await fs.chmod(files.conf, 0o600);

  // `-d none` keeps slapd in the foreground (no fork) and sends only its always-logged messages
  // (start-up failures, bind errors) to our log file; detached so Ctrl-C in the terminal reaches
  // only us and we stop slapd in order. No -u/-g: it runs as whoever starts it.
  const logOffset = (await fs.stat(files.log).catch(() => undefined))?.size ?? 0;
  const logFd = openSync(files.log, 'a');
  let child: ChildProcess;
  try {
    const listeners = [url, ...(ldapsUrl === undefined ? [] : [ldapsUrl])].map((listener) => `${listener}/`).join(' ');
    child = spawn(slapd.bin, ['-d', o.debugLevel ?? 'none', '-f', files.conf, '-h', listeners], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  child.unref();
  let gone: string | undefined;
  child.once('exit', (code, signal) => (gone = `slapd exited during start-up (code ${code}, signal ${signal})`));
  child.once('error', (error) => (gone = `could not run ${slapd.bin}: ${error.message}`));

  const fail = async (error: unknown): Promise<never> => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) await stopProcess(child.pid, child, 2_000);
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\nslapd log (${files.log}):\n${await readLog(files.log, logOffset)}`, { cause: error });
  };

  try {
    await waitUntilReady(url, options, () => gone, 15_000);
  } catch (error) {
    return fail(error);
  }
  // slapd wrote its pid file before listening; with -d it is the process we spawned.
  const pid = (await readPid(files.pid)) ?? child.pid;
  if (pid === undefined) return fail(new Error('slapd started but reported no pid'));
  log(`slapd ${slapd.major}.${slapd.minor} (pid ${pid}) listening on ${url}${ldapsUrl === undefined ? '' : ` and ${ldapsUrl}`}, data in ${dataDir}`);

  if (fresh) {
    try {
      const count = await seed(url, options);
      await fs.writeFile(files.marker, `${JSON.stringify({ baseDN: o.baseDN, demo: o.demo ?? true, seededAt: new Date().toISOString() })}\n`);
      log(`seeded ${count} entries under ${o.baseDN}${(o.demo ?? true) ? ' (with demo data)' : ''}`);
    } catch (error) {
      return fail(error);
    }
  } else {
    log(`reusing the existing directory in ${dataDir}`);
  }
  log(`directory ready in ${Date.now() - started} ms`);

  let stopping: Promise<void> | undefined;
  return {
    url,
    ...(ldapsUrl === undefined ? {} : { ldapsUrl }),
    pid,
    stop(): Promise<void> {
      stopping ??= (async () => {
        await stopProcess(pid, child, 5_000);
        // slapd removes its pid file on a clean shutdown, not after SIGKILL.
        await fs.rm(files.pid, { force: true });
        log(`slapd (pid ${pid}) stopped`);
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// `tsx scripts/directory.ts [--reset]`: run in the foreground until Ctrl-C or SIGTERM.

async function main(): Promise<void> {
  const options = directoryOptionsFromEnv();
  const directory = await startDirectory({
    ...options,
    reset: process.argv.includes('--reset'),
    log: (line) => console.log(`[directory] ${line}`),
  });
  console.log(`[directory] ${directory.url}  base ${options.baseDN}  bind ${options.bindDN}  (Ctrl-C to stop)`);

  const shutdown = (): void => {
    clearInterval(watchdog);
    directory.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // Keeps the process alive (slapd is unref'd) and notices if slapd dies under us.
  const watchdog = setInterval(() => {
    if (!isAlive(directory.pid)) {
      console.error(`[directory] slapd (pid ${directory.pid}) exited unexpectedly; see ${path.join(options.dataDir, 'slapd.log')}`);
      process.exit(1);
    }
  }, 1_000);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
