// The set-up `npm start` and `npm test` do for themselves (npm's prestart and pretest hooks):
// the system programs the command needs, installed with the platform's package manager when
// missing, then the npm dependencies (`npm ci`) when node_modules does not hold what
// package-lock.json lists. Plain Node without dependencies, so it runs before `npm ci`.
//
//   node scripts/bootstrap.mjs start|test
//
// Silent when there is nothing to do. KEYPER_BOOTSTRAP_NO_INSTALL=1 installs nothing: it stops
// with the command to run instead. scripts/directory.ts finds slapd through `candidates` below.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** @typedef {'start' | 'test'} Command */
/**
 * A program a command needs and where it comes from.
 * @typedef {{ program: string, why: string, apt: string, brew: string }} Requirement
 */
/**
 * What decides how to install: Debian/Ubuntu (apt-get), macOS (Homebrew), or neither.
 * @typedef {{ os: string, debian: boolean, root: boolean, sudo: boolean, brew: string | undefined }} Platform
 */
/**
 * How to install the missing programs: the commands to run (when this process may) and the line
 * a person types (always).
 * @typedef {{ run: string[][] | undefined, manual: string, reason: string | undefined }} InstallPlan
 */
/** @typedef {{ packages?: Record<string, { version?: string, optional?: boolean, devOptional?: boolean, link?: boolean }> }} Lockfile */
/** @typedef {{ state: 'fresh' } | { state: 'missing' } | { state: 'stale', differing: string[] }} ModulesState */

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const PREFIX = '[bootstrap]';

// ---------------------------------------------------------------------------------------------
// Which programs, and where they are

const OPENLDAP_TOOLS = "OpenLDAP's client tools: load LDIF by hand, and in the Keyper-compatibility test";

/**
 * The programs `command` needs. sshd and ssh only for tests run as root: the real-sshd test
 * needs root (sshd switches to the login account) and is skipped otherwise.
 * @param {Command} command
 * @param {{ root: boolean }} facts
 * @returns {Requirement[]}
 */
export function requirements(command, { root }) {
  /** @type {Requirement[]} */
  const list = [
    { program: 'slapd', why: 'the OpenLDAP server of the local directory', apt: 'slapd', brew: 'openldap' },
    { program: 'ldapadd', why: OPENLDAP_TOOLS, apt: 'ldap-utils', brew: 'openldap' },
    { program: 'ldapmodify', why: OPENLDAP_TOOLS, apt: 'ldap-utils', brew: 'openldap' },
  ];
  if (command === 'test') {
    list.push(
      { program: 'ssh-keygen', why: 'makes the SSH keys the tests check fingerprints against', apt: 'openssh-client', brew: 'openssh' },
      { program: 'curl', why: "runs the shipped sshd script and Keyper's curl line in the tests", apt: 'curl', brew: 'curl' },
    );
    if (root) {
      list.push(
        { program: 'sshd', why: 'the OpenSSH server of the real-sshd test', apt: 'openssh-server', brew: 'openssh' },
        { program: 'ssh', why: 'logs in to that sshd', apt: 'openssh-client', brew: 'openssh' },
      );
    }
  }
  return list;
}

// sbin is often not on a non-root PATH. slapd also lives in libexec (Homebrew's keg, some distros).
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const SLAPD_LOCATIONS = [
  '/usr/libexec/slapd',
  '/usr/local/libexec/slapd',
  '/opt/homebrew/opt/openldap/libexec/slapd',
  '/usr/local/opt/openldap/libexec/slapd',
  '/opt/homebrew/sbin/slapd',
];

/**
 * Where to look for `program`, in order: for slapd only $SLAPD_BIN when it is set; otherwise the
 * PATH, the sbin directories, and for slapd its usual homes outside them.
 * @param {string} program
 * @param {Record<string, string | undefined>} env
 * @returns {string[]}
 */
export function candidates(program, env) {
  if (program === 'slapd' && env.SLAPD_BIN) return [env.SLAPD_BIN];
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN_DIRS];
  const files = dirs.map((dir) => path.join(dir, program));
  return [...new Set(program === 'slapd' ? [...files, ...SLAPD_LOCATIONS] : files)];
}

/** @param {string} file */
export const isExecutable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

/**
 * The requirements whose program is found nowhere.
 * @param {Requirement[]} needed
 * @param {Record<string, string | undefined>} env
 * @param {(file: string) => boolean} [exists]
 */
export const missingPrograms = (needed, env, exists = isExecutable) =>
  needed.filter(({ program }) => !candidates(program, env).some(exists));

// ---------------------------------------------------------------------------------------------
// How to install them

/** @param {string[]} words */
const shellLine = (words) => words.map((word) => (/^[\w./=@:+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(' ');

/**
 * @param {Platform} platform
 * @param {Requirement[]} missing
 * @returns {InstallPlan}
 */
export function installPlan(platform, missing) {
  if (platform.debian) {
    const packages = [...new Set(missing.map((r) => r.apt))];
    const sudo = platform.root ? [] : ['sudo'];
    const manual = `${shellLine([...sudo, 'apt-get', 'update'])} && ${shellLine([...sudo, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages])}`;
    if (!platform.root && !platform.sudo) return { run: undefined, manual, reason: 'installing needs root, and sudo cannot run here without a password' };
    // `env` carries DEBIAN_FRONTEND through sudo, which resets the environment; -n: never prompt.
    const as = [...(platform.root ? [] : ['sudo', '-n']), 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
    return { run: [[...as, 'update'], [...as, 'install', '-y', '--no-install-recommends', ...packages]], manual, reason: undefined };
  }
  if (platform.os === 'darwin') {
    const formulae = [...new Set(missing.map((r) => r.brew))];
    const manual = shellLine(['brew', 'install', ...formulae]);
    if (!platform.brew) return { run: undefined, manual: `install Homebrew (https://brew.sh), then: ${manual}`, reason: 'Homebrew is not installed' };
    if (platform.root) return { run: undefined, manual, reason: 'Homebrew refuses to run as root' };
    return { run: [[platform.brew, 'install', ...formulae]], manual, reason: undefined };
  }
  const packages = [...new Set(missing.map((r) => r.apt))].join(' ');
  return {
    run: undefined,
    manual: `install ${missing.map((r) => r.program).join(', ')} with your system's package manager (Debian's packages: ${packages}); for slapd elsewhere set SLAPD_BIN`,
    reason: `no known package manager on ${platform.os} (apt-get on Debian/Ubuntu, Homebrew on macOS)`,
  };
}

/** @param {Record<string, string | undefined>} env @returns {Platform} */
export function detectPlatform(env) {
  const root = process.getuid?.() === 0;
  const debian = process.platform === 'linux' && existsSync('/etc/debian_version');
  // Asked only when it matters: `sudo -n true` succeeds only without a password prompt.
  const sudo = debian && !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const brew = process.platform === 'darwin'
    ? [...candidates('brew', env), '/opt/homebrew/bin/brew', '/usr/local/bin/brew'].find(isExecutable)
    : undefined;
  return { os: process.platform, debian, root, sudo, brew };
}

// ---------------------------------------------------------------------------------------------
// npm dependencies

/**
 * The packages whose installed version differs from package-lock.json, by their node_modules
 * path. Optional packages may be absent (other platforms' esbuild binaries are never installed).
 * @param {Lockfile} lock
 * @param {Lockfile} installed npm's record of the last install, node_modules/.package-lock.json
 * @returns {string[]}
 */
export function lockMismatch(lock, installed) {
  const wanted = lock.packages ?? {};
  const have = installed.packages ?? {};
  const differing = Object.entries(wanted)
    .filter(([name, entry]) => name !== '' && !entry.link)
    .filter(([name, entry]) => (have[name] ? have[name].version !== entry.version : !(entry.optional || entry.devOptional)))
    .map(([name]) => name);
  const extra = Object.keys(have).filter((name) => !(name in wanted));
  return [...differing, ...extra];
}

/**
 * Whether node_modules holds what package-lock.json lists. Compared by content, not by file
 * times: a clone, a checkout or a linked node_modules give times that say nothing.
 * @param {Lockfile} lock
 * @param {Lockfile | undefined} installed undefined when node_modules or npm's record is absent
 * @returns {ModulesState}
 */
export function modulesState(lock, installed) {
  if (!installed) return { state: 'missing' };
  const differing = lockMismatch(lock, installed);
  return differing.length === 0 ? { state: 'fresh' } : { state: 'stale', differing };
}

/** @param {string} file @returns {Lockfile | undefined} */
function readLockfile(file) {
  try {
    return /** @type {Lockfile} */ (JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The npm that runs this hook (npm_execpath) or else the one on PATH. @returns {string[]} */
function npmCommand() {
  const cli = process.env.npm_execpath;
  return cli && /npm-cli\.[cm]?js$/.test(cli) ? [process.execPath, cli] : ['npm'];
}

// ---------------------------------------------------------------------------------------------
// Running

class Stop extends Error {}

/** @param {string[]} argv @param {string} why @param {string} [cwd] */
function run(argv, why, cwd = repoRoot) {
  console.log(`${PREFIX} ${why}: ${shellLine(argv)}`);
  const [file = '', ...args] = argv;
  const result = spawnSync(file, args, { cwd, stdio: 'inherit' });
  if (result.error) throw new Stop(`${PREFIX} could not run ${file}: ${result.error.message}`);
  if (result.status !== 0) throw new Stop(`${PREFIX} ${shellLine(argv)} failed (exit code ${result.status ?? result.signal})`);
}

/** @param {Command} command @param {Record<string, string | undefined>} env */
function ensurePrograms(command, env, noInstall = false) {
  const needed = requirements(command, { root: process.getuid?.() === 0 });
  const missing = missingPrograms(needed, env);
  if (missing.length === 0) return;

  const list = missing.map((r) => `  ${r.program.padEnd(11)} ${r.why}`).join('\n');
  if (env.SLAPD_BIN && missing.some((r) => r.program === 'slapd')) {
    throw new Stop(`${PREFIX} SLAPD_BIN=${env.SLAPD_BIN} is not an executable file: point it at slapd, or unset it to use the installed one.`);
  }
  const plan = installPlan(detectPlatform(env), missing);
  const reason = noInstall ? 'KEYPER_BOOTSTRAP_NO_INSTALL is set' : plan.reason;
  if (reason !== undefined || !plan.run) {
    throw new Stop(
      `${PREFIX} \`npm ${command}\` needs programs that are not installed:\n${list}\n` +
        `${PREFIX} Not installing them (${reason}). Run this, then \`npm ${command}\` again:\n  ${plan.manual}`,
    );
  }
  console.log(`${PREFIX} \`npm ${command}\` needs programs that are not installed:\n${list}`);
  for (const argv of plan.run) run(argv, 'installing them');
  const still = missingPrograms(needed, env);
  if (still.length > 0) {
    throw new Stop(`${PREFIX} still not found after installing: ${still.map((r) => r.program).join(', ')} (looked in PATH and ${SBIN_DIRS.join(', ')})`);
  }
}

/** @param {string} root @param {boolean} noInstall */
function ensureModules(root, noInstall) {
  const modules = path.join(root, 'node_modules');
  const lock = readLockfile(path.join(root, 'package-lock.json'));
  if (!lock) throw new Stop(`${PREFIX} package-lock.json is missing in ${root}`);
  const state = modulesState(lock, readLockfile(path.join(modules, '.package-lock.json')));
  if (state.state === 'fresh') return;

  const what = state.state === 'missing'
    ? 'node_modules is missing'
    : `node_modules differs from package-lock.json (${state.differing.slice(0, 3).join(', ')}${state.differing.length > 3 ? ', …' : ''})`;
  // A linked node_modules is someone else's: `npm ci` would wipe what the link points to.
  if (lstatSync(modules, { throwIfNoEntry: false })?.isSymbolicLink()) {
    const target = existsSync(modules) ? realpathSync(modules) : 'a missing folder';
    throw new Stop(`${PREFIX} ${what}; it is a link to ${target}, which is not changed from here. ` +
      `Update it where it lives, or make a folder of your own: rm node_modules && npm ci`);
  }
  if (noInstall) throw new Stop(`${PREFIX} ${what}. Not installing (KEYPER_BOOTSTRAP_NO_INSTALL is set). Run: npm ci`);
  run([...npmCommand(), 'ci', '--no-audit', '--no-fund'], `${what}, installing the npm dependencies`, root);
}

/**
 * @param {string[]} argv
 * @param {Record<string, string | undefined>} env
 * @param {string} [root] the project folder (tests give another)
 * @returns {number} exit code
 */
export function main(argv, env, root = repoRoot) {
  const command = argv[0];
  if (command !== 'start' && command !== 'test') {
    console.error('usage: node scripts/bootstrap.mjs start|test');
    return 2;
  }
  const noInstall = Boolean(env.KEYPER_BOOTSTRAP_NO_INSTALL) && env.KEYPER_BOOTSTRAP_NO_INSTALL !== '0';
  try {
    ensurePrograms(command, env, noInstall);
    ensureModules(root, noInstall);
    return 0;
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
    console.error(error.message);
    return 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2), process.env);
}
