// The CAs at run time (lib/cakeys.ts) and on disk (scripts/ca.ts): the file source reads a key
// once per process and again only after a failure; the SSM source (a fake SSM client in place of
// the SDK's) fetches each parameter once, decrypted, and again after SECRETS_CACHE_SECONDS (a rotated
// key is used from then on); a CA that cannot be read fails only the requests that use it. Local CA files are made once, kept, read by
// ssh-keygen, and replaced only on reset.
import { readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { caKeys, caSettings, CaUnavailableError, type CaContext, type CaKind, type CaMiddleware } from '../../lib/cakeys.js';
import { caPublicLine, generateCaKey, readCaPrivateKey, writeCaPrivateKey } from '../../lib/sshca.js';
import { CA_FILES, ensureLocalCa } from '../../scripts/ca.js';
import { fakeSsm } from '../fake-ssm.js';
import { Scratch, keygenFingerprint, sshKeygenOk } from '../sshkeygen.js';

const scratch = new Scratch();
afterAll(() => scratch.remove());

type Seen = Partial<Record<CaKind, string>> & { errors?: Partial<Record<CaKind, string>> };

/** A handler that reports the fingerprints of the CAs it got, or why it got none. */
const handlerWith = (middleware: CaMiddleware, kinds: CaKind[]) =>
  middy<unknown, Seen, Error, Context & CaContext>()
    .use(middleware as middy.MiddlewareObj<unknown, Seen, Error, Context & CaContext>)
    .handler(async (_event, context) => {
      const seen: Seen = { errors: {} };
      for (const kind of kinds) {
        try {
          seen[kind] = context.cas?.get(kind).fingerprint;
        } catch (error) {
          expect(error).toBeInstanceOf(CaUnavailableError);
          seen.errors![kind] = (error as Error).message;
        }
      }
      return seen;
    });

const context = (): Context => ({ awsRequestId: 'test', getRemainingTimeInMillis: () => 10_000 }) as unknown as Context;

describe('caSettings', () => {
  it('reads the source and the locations, file by default', () => {
    expect(caSettings({ CA_USER_KEY: '/a', CA_HOST_KEY: ' ' })).toEqual({ source: 'file', locations: { user: '/a' }, cacheSeconds: 300 });
    expect(caSettings({ CA_KEY_SOURCE: 'ssm', CA_USER_KEY: '/keyper/prod/u', CA_HOST_KEY: '/keyper/prod/h' })).toEqual({
      source: 'ssm',
      locations: { user: '/keyper/prod/u', host: '/keyper/prod/h' },
      cacheSeconds: 300,
    });
    expect(() => caSettings({ CA_KEY_SOURCE: 'env' })).toThrow(/CA_KEY_SOURCE/);
  });

  it('says which setting is wrong, SECRETS_CACHE_SECONDS first', () => {
    const cache = 'SECRETS_CACHE_SECONDS: must be a positive whole number of seconds';
    for (const seconds of ['0', '-5', '1.5', 'soon', '', 'Infinity']) expect(() => caSettings({ SECRETS_CACHE_SECONDS: seconds })).toThrow(new Error(cache));
    expect(() => caSettings({ SECRETS_CACHE_SECONDS: '0', CA_KEY_SOURCE: 'env' })).toThrow(new Error(cache));
    expect(() => caSettings({ SECRETS_CACHE_SECONDS: '60', CA_KEY_SOURCE: 'env' })).toThrow(new Error('CA_KEY_SOURCE: must be file or ssm'));
    expect(caSettings({ SECRETS_CACHE_SECONDS: ' 1e3 ' }).cacheSeconds).toBe(1000);
  });
});

describe('the file source', () => {
  it('reads each key once, and again only after a failed read', async () => {
    const user = generateCaKey('ssh-ed25519', 'user ca');
    const host = generateCaKey('ecdsa-sha2-nistp256', 'host ca');
    const userFile = scratch.write('file-user', writeCaPrivateKey(user));
    const hostFile = scratch.path('file-host');
    const handler = handlerWith(caKeys(['user', 'host'], { source: 'file', locations: { user: userFile, host: hostFile } }), ['user', 'host']);

    // The host CA is missing: only requests using it fail.
    const first = await handler({}, context());
    expect(first.user).toBe(user.fingerprint);
    expect(first.errors?.host).toMatch(/host CA key cannot be read/);

    await writeFile(hostFile, writeCaPrivateKey(host), { mode: 0o600 });
    await rm(userFile);
    const second = await handler({}, context());
    // The user key was read once (its file is gone now); the host key is read now that it exists.
    expect(second).toEqual({ user: user.fingerprint, host: host.fingerprint, errors: {} });
  });

  it('says which variable is missing, and never holds key material in its messages', async () => {
    const handler = handlerWith(caKeys(['user', 'host'], { source: 'file', locations: {} }), ['user', 'host']);
    const seen = await handler({}, context());
    expect(seen.errors).toEqual({ user: expect.stringMatching(/CA_USER_KEY is not set/), host: expect.stringMatching(/CA_HOST_KEY is not set/) });
    const broken = scratch.write('broken', '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n');
    const again = await handlerWith(caKeys(['user'], { source: 'file', locations: { user: broken } }), ['user'])({}, context());
    expect(again.errors?.user).toMatch(/user CA key cannot be read/);
    expect(again.errors?.user).not.toContain('AAAA');
  });
});

describe('the SSM source', () => {
  it('fetches the parameters once, decrypted, and signs with the key they hold', async () => {
    const user = generateCaKey('ssh-ed25519', 'ssm user ca');
    const host = generateCaKey('ssh-rsa', 'ssm host ca');
    const ssm = fakeSsm({ '/keyper/test/ca-user-key': writeCaPrivateKey(user), '/keyper/test/ca-host-key': writeCaPrivateKey(host) });
    const settings = { source: 'ssm' as const, locations: { user: '/keyper/test/ca-user-key', host: '/keyper/test/ca-host-key' } };
    const handler = handlerWith(caKeys(['user', 'host'], settings, { AwsClient: ssm.AwsClient }), ['user', 'host']);
    for (let i = 0; i < 3; i += 1) {
      expect(await handler({}, context())).toEqual({ user: user.fingerprint, host: host.fingerprint, errors: {} });
    }
    expect(ssm.sent).toEqual([{ Names: ['/keyper/test/ca-user-key', '/keyper/test/ca-host-key'], WithDecryption: true }]);
    // Nothing of the key reaches the environment.
    const material = writeCaPrivateKey(user).split('\n')[1]!;
    expect(JSON.stringify(process.env)).not.toContain(material.slice(0, 40));
  });

  it('reads the parameters again once the cache time is over: a rotated key is used from then on', async () => {
    vi.useFakeTimers();
    try {
      const before = generateCaKey('ssh-ed25519', 'before rotation');
      const after = generateCaKey('ssh-ed25519', 'after rotation');
      const ssm = fakeSsm({ '/keyper/rotate/ca-user-key': writeCaPrivateKey(before) });
      const settings = { source: 'ssm' as const, locations: { user: '/keyper/rotate/ca-user-key' }, cacheSeconds: 60 };
      const handler = handlerWith(caKeys(['user'], settings, { AwsClient: ssm.AwsClient }), ['user']);
      expect((await handler({}, context())).user).toBe(before.fingerprint);
      ssm.parameters['/keyper/rotate/ca-user-key'] = writeCaPrivateKey(after);
      await vi.advanceTimersByTimeAsync(30_000);
      expect((await handler({}, context())).user).toBe(before.fingerprint);
      await vi.advanceTimersByTimeAsync(31_000);
      expect((await handler({}, context())).user).toBe(after.fingerprint);
      expect(ssm.sent).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads them again after SECRETS_CACHE_SECONDS, 300 by default', () => {
    expect(caSettings({}).cacheSeconds).toBe(300);
    expect(caSettings({ SECRETS_CACHE_SECONDS: '60' }).cacheSeconds).toBe(60);
    expect(() => caSettings({ SECRETS_CACHE_SECONDS: 'soon' })).toThrow(/SECRETS_CACHE_SECONDS/);
  });

  it('fails only the CA whose parameter is missing', async () => {
    const host = generateCaKey('ssh-ed25519', 'host only');
    const ssm = fakeSsm({ '/keyper/test2/ca-host-key': writeCaPrivateKey(host) });
    const settings = { source: 'ssm' as const, locations: { user: '/keyper/test2/ca-user-key', host: '/keyper/test2/ca-host-key' } };
    const seen = await handlerWith(caKeys(['user', 'host'], settings, { AwsClient: ssm.AwsClient }), ['user', 'host'])({}, context());
    expect(seen.host).toBe(host.fingerprint);
    expect(seen.errors?.user).toMatch(/user CA key cannot be read/);
  });
});

describe('local CA files (scripts/ca.ts)', () => {
  it('are made once as ssh-keygen reads them, kept on the next start, replaced on reset', async () => {
    const dir = scratch.path('local-ca');
    const first = await ensureLocalCa(dir);
    expect(first.created).toEqual({ user: true, host: true });
    for (const kind of ['user', 'host'] as const) {
      const file = first.files[kind];
      expect(file.endsWith(CA_FILES[kind])).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const ca = readCaPrivateKey(readFileSync(file, 'utf8'));
      expect(ca.type).toBe('ssh-ed25519');
      // ssh-keygen derives the same public key from the private file, and it is the .pub beside it.
      expect(sshKeygenOk(['-y', '-f', file]).trim()).toBe(caPublicLine(ca));
      expect(readFileSync(`${file}.pub`, 'utf8').trim()).toBe(caPublicLine(ca));
      expect(keygenFingerprint(`${file}.pub`)).toBe(ca.fingerprint);
    }
    const user = readFileSync(first.files.user, 'utf8');
    const second = await ensureLocalCa(dir);
    expect(second.created).toEqual({ user: false, host: false });
    expect(readFileSync(second.files.user, 'utf8')).toBe(user);
    const reset = await ensureLocalCa(dir, { reset: true });
    expect(reset.created).toEqual({ user: true, host: true });
    expect(readFileSync(reset.files.user, 'utf8')).not.toBe(user);
  });

  it('refuses to replace a damaged key silently', async () => {
    const dir = scratch.path('damaged-ca');
    const { files } = await ensureLocalCa(dir);
    await writeFile(files.host, 'not a key\n');
    await expect(ensureLocalCa(dir)).rejects.toThrow(/not an OpenSSH private key/);
  });
});
