// A real OpenSSH server that trusts certificates: sshd on a free loopback port with
// TrustedUserCAKeys (the API's user CA from /api/userca, and a CA Keyper made with ssh-keygen and
// that was imported), the shipped authprinc.sh as its AuthorizedPrincipalsCommand, RevokedKeys
// kept by the shipped krl-refresh.sh from /api/krlca, and a host certificate the API issued.
// - a certificate issued over HTTP logs in; once removed and the KRL refreshed it is refused, by
//   the KRL alone too (the certificate stored again behind the API's back);
// - a user an administrator locked is refused, and accepted again once unlocked;
// - an ssh client with only `@cert-authority` for the host CA and strict host key checking
//   accepts the host, and refuses it without that line;
// - after `import-keyper-ca`, a certificate Keyper's CA signed before the import logs in, and the
//   one Keyper's KRL revoked stays refused.
// Root only (sshd switches to the login account): skipped, with the reason printed, otherwise.
import { copyFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importKeyperCa } from '../../scripts/import-keyper-ca.js';
import { addHost, addStoredValues, deleteEntries } from '../authkeys-helpers.js';
import { ADMIN_PASSWORD, apiUrl, directoryUrl, env, groupDN, hostDN, http, login, uniqueName } from '../helpers.js';
import { addLoginAccount, makeHostKey, publicKeyOnly, removeLoginAccount, rootOnlyDir, run, SSH_KEYGEN, sshdSkipReason, startSshd, tryLogin, type RunningSshd } from '../sshd-helpers.js';

const SCRIPTS = fileURLToPath(new URL('../../scripts/sshd/', import.meta.url));
const skip = sshdSkipReason !== undefined;
if (skip) console.warn(`test/e2e/sshd-ca.test.ts skipped: ${sshdSkipReason}`);

let admin = '';
let work = '';
let clientDir = '';
let sshd: RunningSshd | undefined;
let accountCreated = false;
const account = uniqueName('kpca');
const keyperUser = uniqueName('causer');
const host = uniqueName('sshca');

interface Cert {
  keyid: number;
  fingerprint: string;
  serial: string;
  cert: string;
}

/** A client key pair in the client folder; returns the private key file. */
const clientKey = async (name: string): Promise<string> => {
  const file = path.join(clientDir, name);
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return file;
};

const updateUser = async (json: unknown): Promise<Cert[]> => {
  const reply = await http('PUT', `/users/${keyperUser}`, { token: admin, json });
  expect(reply.status, reply.text).toBe(200);
  return (reply.body as { sshPublicCerts: Cert[] }[])[0]!.sshPublicCerts;
};

/** Certifies the key of `file` over HTTP and writes the certificate next to it. */
const certify = async (file: string): Promise<Cert> => {
  const key = (await readFile(`${file}.pub`, 'utf8')).trim();
  const certs = await updateUser({ sshPublicCerts: [{ name: 'e2e', key, hostGroups: [groupDN(host)] }] });
  const fingerprint = (await run(SSH_KEYGEN, ['-l', '-f', `${file}.pub`])).stdout.split(' ')[1];
  const cert = certs.find((c) => c.fingerprint === fingerprint)!;
  await writeFile(`${file}-cert.pub`, `${cert.cert}\n`);
  return cert;
};

/** A login with the key of `file` and its certificate (no known_hosts checks: those have their own test). */
const logIn = (file: string): Promise<boolean> =>
  tryLogin(sshd!, account, ['-i', file, '-o', `CertificateFile=${file}-cert.pub`, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null']);

const refreshKrl = async (): Promise<void> => {
  await run('/bin/sh', [path.join(work, 'krl-refresh.sh')]);
};

beforeAll(async () => {
  if (skip) return;
  admin = (await login('admin', ADMIN_PASSWORD)).access_token;
  await addLoginAccount(account);
  accountCreated = true;
  await addHost(host);
  clientDir = await mkdtemp(path.join(tmpdir(), 'keyper-ssh-ca-client-'));
  // The Keyper user's principal is the login account: certificates carry it as their principal.
  const created = await http('POST', '/users', {
    token: admin,
    json: {
      cn: keyperUser, userPassword: 'sshd-ca-test', confirmPassword: 'sshd-ca-test', givenName: 'Ca', sn: 'Test',
      duration: 1, durationUnit: 'Hours', principal: [account], memberOfs: [groupDN(host)],
    },
  });
  expect(created.status, created.text).toBe(201);

  work = await rootOnlyDir();
  for (const script of ['auth.sh', 'authprinc.sh', 'krl-refresh.sh']) {
    await copyFile(path.join(SCRIPTS, script), path.join(work, script));
    await chmod(path.join(work, script), 0o755);
  }
  await writeFile(path.join(work, 'keyper.env'), `KEYPER_API_URL=${apiUrl()}\nKEYPER_HOSTNAME=${host}\nKEYPER_KRL_FILE=${path.join(work, 'revoked_keys')}\n`, { mode: 0o644 });
  // The host's key, certified by the API's host CA (created with the host, fetched from /hostcert).
  await makeHostKey(work);
  const hostKey = (await readFile(path.join(work, 'host_ed25519.pub'), 'utf8')).trim();
  const certified = await http('PUT', `/hosts/${host}`, { token: admin, json: { sshPublicCerts: [{ name: 'sshd', key: hostKey }] } });
  expect(certified.status, certified.text).toBe(200);
  const hostCert = await http('GET', `/hostcert?hostname=${host}`);
  await writeFile(path.join(work, 'host_ed25519-cert.pub'), hostCert.text);
  const userCa = await http('GET', '/userca');
  await writeFile(path.join(work, 'user_ca.pub'), userCa.text);
  await refreshKrl();

  sshd = await startSshd(work, [
    `HostKey ${path.join(work, 'host_ed25519')}`,
    `HostCertificate ${path.join(work, 'host_ed25519-cert.pub')}`,
    `TrustedUserCAKeys ${path.join(work, 'user_ca.pub')}`,
    `AuthorizedPrincipalsCommand ${path.join(work, 'authprinc.sh')} %u %f %s`,
    'AuthorizedPrincipalsCommandUser nobody',
    `RevokedKeys ${path.join(work, 'revoked_keys')}`,
    ...publicKeyOnly(account),
  ]);
}, 60_000);

afterAll(async () => {
  if (skip) return;
  await sshd?.stop();
  if (accountCreated) await removeLoginAccount(account);
  if (admin !== '') await http('DELETE', `/users/${keyperUser}`, { token: admin });
  await deleteEntries([groupDN(host), hostDN(host)]);
  for (const dir of [work, clientDir]) if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('a real sshd trusting the API\'s CAs, with authprinc.sh and krl-refresh.sh', () => {
  it.skipIf(skip)('logs in with a certificate issued over HTTP; once it is removed and the KRL refreshed, refuses it', async () => {
    const key = await clientKey('id_removed');
    const cert = await certify(key);
    expect(await logIn(key)).toBe(true);
    expect(sshd!.log()).toMatch(new RegExp(`Accepted publickey for ${account} from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519-CERT`));

    // Removed: the serial is revoked; the next KRL refresh tells sshd, which refuses the
    // certificate by its RevokedKeys file before it asks authprinc.sh anything.
    await updateUser({ sshPublicCerts: [cert] });
    await refreshKrl();
    const from = sshd!.log().length;
    expect(await logIn(key)).toBe(false);
    expect(sshd!.log().slice(from)).toMatch(/Authentication key ED25519-CERT \S+ revoked by file/);
  });

  it.skipIf(skip)('refuses a user an administrator locked, and accepts them once unlocked', async () => {
    const key = await clientKey('id_locked');
    await certify(key);
    expect(await logIn(key)).toBe(true);
    await updateUser({ accountLocked: true });
    try {
      expect(await logIn(key)).toBe(false);
    } finally {
      await updateUser({ accountLocked: false });
    }
    expect(await logIn(key)).toBe(true);
  });

  it.skipIf(skip)('is accepted by a client that trusts the host CA alone, with strict host key checking', async () => {
    const key = await clientKey('id_host');
    await certify(key);
    const hostCa = (await http('GET', '/hostca')).text.trim();
    const knownHosts = path.join(clientDir, 'known_hosts');
    // The client checks the certificate's principals against the name it asked for: the host's name.
    const strict = ['-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', `HostKeyAlias=${host}`];
    await writeFile(knownHosts, `@cert-authority ${host} ${hostCa}\n`);
    expect(await tryLogin(sshd!, account, strict, true)).toBe(true);
    // Without the CA line the same host is unknown, and a strict client refuses it.
    await writeFile(knownHosts, '');
    expect(await tryLogin(sshd!, account, strict, true)).toBe(false);
  });

  it.skipIf(skip)('keeps Keyper\'s CA and KRL working after import-keyper-ca', async () => {
    // Keyper's folder, made by ssh-keygen: its user CA signed two certificates before the switch
    // and its KRL revoked one of them. Keyper stored both on the user's entry.
    const folder = await mkdtemp(path.join(tmpdir(), 'keyper-sshca-'));
    try {
      await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'keyper user ca', '-f', path.join(folder, 'ca_user_key')]);
      await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'keyper host ca', '-f', path.join(folder, 'ca_host_key')]);
      const stored: string[] = [];
      const keys: Record<string, string> = {};
      for (const [name, serial] of [['id_keyper_ok', '20210101120000001'], ['id_keyper_revoked', '20210101120000002']] as const) {
        const key = await clientKey(name);
        keys[name] = key;
        await run(SSH_KEYGEN, ['-q', '-s', path.join(folder, 'ca_user_key'), '-I', keyperUser, '-n', account, '-z', serial, '-V', '+1d', `${key}.pub`]);
        const fingerprint = (await run(SSH_KEYGEN, ['-l', '-f', `${key}.pub`])).stdout.split(' ')[1];
        stored.push(JSON.stringify({
          keyid: name === 'id_keyper_ok' ? 900 : 901, keytype: 1, name, key: (await readFile(`${key}.pub`, 'utf8')).trim(), fingerprint,
          hostGroups: [groupDN(host)], dateExpire: '20991231000000', cert: (await readFile(`${key}-cert.pub`, 'utf8')).trim(),
        }));
      }
      await run(SSH_KEYGEN, ['-k', '-f', path.join(folder, 'ca_krl'), `${keys.id_keyper_revoked!}-cert.pub`]);
      await addStoredValues(keyperUser, stored);

      // The switch: servers keep trusting Keyper's CA; its revocations go into the directory.
      await importKeyperCa({
        folder,
        caDir: path.join(folder, 'imported'),
        ldap: { url: directoryUrl(), baseDN: env().LDAP_BASE_DN!, bindDN: env().LDAP_BIND_DN!, bindPassword: env().LDAP_BIND_PASSWORD! },
      });
      const apiCa = await readFile(path.join(work, 'user_ca.pub'), 'utf8');
      await writeFile(path.join(work, 'user_ca.pub'), `${apiCa}${await readFile(path.join(folder, 'ca_user_key.pub'), 'utf8')}`);
      await refreshKrl();

      expect(await logIn(keys.id_keyper_ok!)).toBe(true);
      const from = sshd!.log().length;
      expect(await logIn(keys.id_keyper_revoked!)).toBe(false);
      expect(sshd!.log().slice(from)).toMatch(/Authentication key ED25519-CERT \S+ revoked by file/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
