// `npm run import-keyper-ca` with a folder in Keyper's layout made by the real ssh-keygen (an RSA
// user CA, an ECDSA host CA, and a KRL that `ssh-keygen -k` wrote: a certificate by serial, a key
// by its whole blob, a key by SHA256 hash): the keys land where the local stage reads them, as they
// were; the KRL's revocations land in the directory, so /api/krlca revokes exactly what Keyper's
// list revoked; a second import changes nothing; a deployed stage gets the SSM commands.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as krlca } from '../../functions/public/krlca.js';
import { caKeys, type CaContext } from '../../lib/cakeys.js';
import { readKrl } from '../../lib/krl.js';
import { importKeyperCa } from '../../scripts/import-keyper-ca.js';
import { apiEvent, env, lambdaContext } from '../helpers.js';
import { Scratch, keygenFingerprint, queryKrl, sshKeygenOk } from '../sshkeygen.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const scratch = new Scratch();
const folder = scratch.path('sshca');
const subjects: Record<string, { file: string; publicLine: string }> = {};
const certs: Record<string, string> = {};

const ldap = () => ({ url: env().LDAP_URL!, baseDN: env().LDAP_BASE_DN!, bindDN: env().LDAP_BIND_DN!, bindPassword: env().LDAP_BIND_PASSWORD! });

const krl = async (): Promise<Buffer> => {
  const result = await krlca(apiEvent({ method: 'GET', route: '/api/krlca' }), lambdaContext());
  expect(result.statusCode).toBe(200);
  return Buffer.from(result.body ?? '', 'base64');
};

beforeAll(async () => {
  // Keyper's folder, as its ssh-keygen calls leave it.
  await run('/bin/mkdir', ['-p', folder]);
  sshKeygenOk(['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 'keyper user ca', '-f', path.join(folder, 'ca_user_key')]);
  sshKeygenOk(['-q', '-t', 'ecdsa', '-b', '384', '-N', '', '-C', 'keyper host ca', '-f', path.join(folder, 'ca_host_key')]);
  for (const name of ['revokedCert', 'keptCert', 'revokedKey', 'hashedKey', 'keptKey']) subjects[name] = scratch.keygen(['-t', 'ed25519'], name);
  for (const [name, serial] of [['revokedCert', '20210101120000123'], ['keptCert', '20210101120000124']] as const) {
    sshKeygenOk(['-q', '-s', path.join(folder, 'ca_user_key'), '-I', 'alice', '-n', 'alice', '-z', serial, '-V', '+1d', `${subjects[name]!.file}.pub`]);
    certs[name] = readFileSync(`${subjects[name]!.file}-cert.pub`, 'utf8').trim();
  }
  const krlFile = path.join(folder, 'ca_krl');
  // As Keyper revokes: a certificate file, then a key, then a "hash:" line (its add_to_krl_hash).
  sshKeygenOk(['-k', '-f', krlFile, `${subjects.revokedCert!.file}-cert.pub`]);
  sshKeygenOk(['-k', '-u', '-f', krlFile, `${subjects.revokedKey!.file}.pub`]);
  const spec = scratch.write('hash-spec', `hash: ${keygenFingerprint(`${subjects.hashedKey!.file}.pub`)}\n`);
  sshKeygenOk(['-k', '-u', '-f', krlFile, spec]);
}, 60_000);

afterAll(() => scratch.remove());

describe('import-keyper-ca', () => {
  it('puts the CAs where the local stage reads them and the KRL\'s revocations into the directory', async () => {
    const caDir = scratch.path('local-ca');
    const lines: string[] = [];
    const result = await importKeyperCa({ folder, caDir, ldap: ldap(), log: (line) => lines.push(line) });
    expect(result.skipped).toEqual([]);
    expect(result.revokedSerials).toBe(1);
    expect(result.revokedKeys).toBe(2);
    for (const name of ['ca_user_key', 'ca_host_key']) {
      expect(await readFile(path.join(caDir, name), 'utf8')).toBe(await readFile(path.join(folder, name), 'utf8'));
      expect(keygenFingerprint(path.join(caDir, `${name}.pub`))).toBe(keygenFingerprint(path.join(folder, `${name}.pub`)));
    }
    // A function of the local stage reads them as its CAs.
    const handler = middy<unknown, string[], Error, Context & CaContext>()
      .use(caKeys(['user', 'host'], { source: 'file', locations: { user: path.join(caDir, 'ca_user_key'), host: path.join(caDir, 'ca_host_key') } }) as middy.MiddlewareObj<unknown, string[], Error, Context & CaContext>)
      .handler(async (_event, context) => [context.cas!.get('user').fingerprint, context.cas!.get('host').fingerprint]);
    expect(await handler({}, lambdaContext())).toEqual([keygenFingerprint(path.join(folder, 'ca_user_key.pub')), keygenFingerprint(path.join(folder, 'ca_host_key.pub'))]);

    // What Keyper's list revoked is revoked by ours; the rest is not.
    const list = await krl();
    const verdicts = queryKrl(scratch, list, [certs.revokedCert!, certs.keptCert!, subjects.revokedKey!.publicLine, subjects.hashedKey!.publicLine, subjects.keptKey!.publicLine]).verdicts;
    expect(verdicts).toEqual(['REVOKED', 'ok', 'REVOKED', 'REVOKED', 'ok']);

    // Again: nothing new (the same version).
    await importKeyperCa({ folder, caDir, ldap: ldap() });
    expect(readKrl(await krl()).version).toBe(readKrl(list).version);
  });

  it('prints the SSM commands for a deployed stage, and runs as npm run import-keyper-ca for the local one', async () => {
    const deployed = await importKeyperCa({ folder, stage: 'prod', ldap: ldap() });
    expect(deployed.ssmCommands).toEqual([
      `aws ssm put-parameter --type SecureString --overwrite --name /keyper/prod/ca-user-key --value file://${path.join(folder, 'ca_user_key')}`,
      `aws ssm put-parameter --type SecureString --overwrite --name /keyper/prod/ca-host-key --value file://${path.join(folder, 'ca_host_key')}`,
    ]);

    const dataDir = await mkdtemp(path.join(tmpdir(), 'keyper-import-'));
    try {
      const { stdout } = await run(process.execPath, [path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'scripts/import-keyper-ca.ts', folder], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH, LOCAL_DATA_DIR: dataDir, LDAP_URL: env().LDAP_URL, LDAP_BASE_DN: env().LDAP_BASE_DN, LDAP_BIND_DN: env().LDAP_BIND_DN, LDAP_BIND_PASSWORD: env().LDAP_BIND_PASSWORD },
      });
      expect(stdout).toMatch(/1 certificate serial\(s\) and 2 key\(s\) revoked/);
      expect(await readFile(path.join(dataDir, 'ca', 'ca_user_key'), 'utf8')).toBe(await readFile(path.join(folder, 'ca_user_key'), 'utf8'));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an encrypted CA key with the command that decrypts it', async () => {
    const encrypted = scratch.path('encrypted');
    await run('/bin/mkdir', ['-p', encrypted]);
    sshKeygenOk(['-q', '-t', 'ed25519', '-N', 'secret', '-f', path.join(encrypted, 'ca_user_key')]);
    sshKeygenOk(['-q', '-t', 'ed25519', '-N', '', '-f', path.join(encrypted, 'ca_host_key')]);
    await expect(importKeyperCa({ folder: encrypted, caDir: scratch.path('never'), ldap: ldap() })).rejects.toThrow(/encrypted: remove its passphrase first/);
  });
});
