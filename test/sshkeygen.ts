// The real ssh-keygen as the reference for the CA, certificate and KRL tests: key making, `-L`
// listings parsed into fields, and `-Q` revocation queries. A missing ssh-keygen fails the tests
// (it never skips them). Files live in a private temporary folder per test file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CaKeyType } from '../lib/sshca.js';

export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** Every key type a CA or a certified key may have. */
export const KEY_TYPES: readonly CaKeyType[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
];

/** ssh-keygen's `-t`/`-b` arguments for a key of each type, RSA at `rsaBits`. */
export const keygenArgs = (rsaBits: number): Readonly<Record<CaKeyType, string[]>> => ({
  'ssh-ed25519': ['-t', 'ed25519'],
  'ecdsa-sha2-nistp256': ['-t', 'ecdsa', '-b', '256'],
  'ecdsa-sha2-nistp384': ['-t', 'ecdsa', '-b', '384'],
  'ecdsa-sha2-nistp521': ['-t', 'ecdsa', '-b', '521'],
  'ssh-rsa': ['-t', 'rsa', '-b', String(rsaBits)],
});

/** Expects `run` to throw a `type` whose message matches `reason`; returns that error. */
export function expectThrown<E extends Error>(
  run: () => unknown,
  type: abstract new (...args: never[]) => E,
  reason: RegExp,
): E {
  let error: unknown;
  try {
    run();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toMatch(reason);
  return error as E;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs ssh-keygen in UTC, so the times `-L` prints are comparable. Without stdin and stopped after
 * a minute: a passphrase prompt must fail a test, not hang it.
 */
export function sshKeygen(args: readonly string[]): Run {
  if (!existsSync(SSH_KEYGEN)) throw new Error(`${SSH_KEYGEN} is missing: these tests need the real ssh-keygen`);
  const result = spawnSync(SSH_KEYGEN, args, {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like sshKeygen, but a non-zero exit is a test failure with ssh-keygen's own words. */
export function sshKeygenOk(args: readonly string[]): string {
  const run = sshKeygen(args);
  if (run.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')} failed (${run.status}): ${run.stderr}`);
  return run.stdout;
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'keyper-ssh-'));
  private count = 0;

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes a file (private keys need 0600 or ssh-keygen refuses them) and returns its path. */
  write(name: string, content: string | Buffer): string {
    const file = this.path(name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  }

  /** Makes a key with ssh-keygen: returns the private key file, its text and the public line. */
  keygen(args: readonly string[], comment = 'test key'): { file: string; privateText: string; publicLine: string } {
    this.count += 1;
    const file = this.path(`key${this.count}`);
    sshKeygenOk([...args, '-q', '-N', '', '-C', comment, '-f', file]);
    return {
      file,
      privateText: readFileSync(file, 'utf8'),
      publicLine: readFileSync(`${file}.pub`, 'utf8').trim(),
    };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `ssh-keygen -l` of a key file: the SHA256 fingerprint. */
export const keygenFingerprint = (file: string): string => sshKeygenOk(['-l', '-f', file]).split(/\s+/)[1] ?? '';

export interface Listing {
  /** e.g. "ssh-ed25519-cert-v01@openssh.com user certificate". */
  type: string;
  /** e.g. "ED25519-CERT SHA256:...". */
  publicKey: string;
  /** e.g. "ECDSA SHA256:... (using ecdsa-sha2-nistp256)". */
  signingCa: string;
  keyId: string;
  serial: string;
  valid: string;
  principals: string[];
  criticalOptions: string[];
  extensions: string[];
}

/** Parses `ssh-keygen -L` output: "Name: value" fields and the indented lists under them. */
export function parseListing(output: string): Listing {
  const fields = new Map<string, string>();
  const lists = new Map<string, string[]>();
  let current = '';
  for (const line of output.split('\n').slice(1)) {
    const field = /^ {8}([A-Za-z ]+): ?(.*)$/.exec(line);
    const item = /^ {16}(.*)$/.exec(line);
    if (field?.[1] !== undefined) {
      current = field[1];
      fields.set(current, (field[2] ?? '').trim());
      lists.set(current, []);
    } else if (item?.[1] !== undefined) {
      lists.get(current)?.push(item[1]);
    }
  }
  const list = (name: string): string[] => (fields.get(name) === '(none)' ? [] : (lists.get(name) ?? []));
  return {
    type: fields.get('Type') ?? '',
    publicKey: fields.get('Public key') ?? '',
    signingCa: fields.get('Signing CA') ?? '',
    keyId: fields.get('Key ID') ?? '',
    serial: fields.get('Serial') ?? '',
    valid: fields.get('Valid') ?? '',
    principals: list('Principals'),
    criticalOptions: list('Critical Options'),
    extensions: list('Extensions'),
  };
}

/** `ssh-keygen -L` of a certificate line. */
export function listCertificate(scratch: Scratch, line: string): Listing {
  return parseListing(sshKeygenOk(['-L', '-f', scratch.write('listed-cert.pub', `${line}\n`)]));
}

/** How `-L` prints a time (TZ=UTC): 2024-01-01T00:00:00. */
export const listedTime = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 19);

/** `ssh-keygen -Q -f krl files...`: each file's verdict, REVOKED or ok, in order. */
export function queryKrl(scratch: Scratch, krl: Buffer, lines: readonly string[]): { verdicts: string[]; run: Run } {
  const krlFile = scratch.write('query.krl', krl);
  const files = lines.map((line, i) => scratch.write(`query${i}.pub`, `${line}\n`));
  const run = sshKeygen(['-Q', '-f', krlFile, ...files]);
  const verdicts = files.map((file) => {
    const found = run.stdout.split('\n').find((text) => text.startsWith(`${file} `) || text.startsWith(`${file}:`));
    return found?.endsWith(': REVOKED') ? 'REVOKED' : found?.endsWith(': ok') ? 'ok' : `? ${run.stderr.trim()}`;
  });
  return { verdicts, run };
}
