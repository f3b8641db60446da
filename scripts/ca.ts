// The local certificate authorities: `npm start` and the test harness make a user CA and a host
// CA once (Ed25519, lib/sshca.ts) as Keyper's file names in a folder of the data directory, and
// keep them: a restart or a reset of the directory leaves them alone, so certificates issued and
// servers' TrustedUserCAKeys / @cert-authority lines stay valid. Only `reset` makes new ones.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaKind } from '../lib/cakeys.js';
import { caPublicLine, generateCaKey, readCaPrivateKey, writeCaPrivateKey, type CaKey } from '../lib/sshca.js';

/** Keyper's names for the CA files in its SSH_CA_DIR. */
export const CA_FILES: Readonly<Record<CaKind, string>> = { user: 'ca_user_key', host: 'ca_host_key' };

export const CA_COMMENTS: Readonly<Record<CaKind, string>> = { user: 'keyper-user-ca', host: 'keyper-host-ca' };

export interface LocalCa {
  /** The private key files, for CA_USER_KEY and CA_HOST_KEY. */
  files: Record<CaKind, string>;
  /** Whether each was made just now (false: kept from before). */
  created: Record<CaKind, boolean>;
}

/** Writes a private key (mode 0600) and its .pub beside it, each whole or not at all. */
export const writeCaFiles = async (file: string, ca: CaKey): Promise<void> => {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, writeCaPrivateKey(ca), { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  await writeFile(`${file}.pub`, `${caPublicLine(ca)}\n`, { mode: 0o644 });
};

/** Makes the CA files in `dir` that are missing (all of them with `reset`) and checks the others. */
export const ensureLocalCa = async (dir: string, options: { reset?: boolean } = {}): Promise<LocalCa> => {
  const files = { user: path.join(dir, CA_FILES.user), host: path.join(dir, CA_FILES.host) };
  const created = { user: false, host: false };
  for (const kind of ['user', 'host'] as const) {
    const file = files[kind];
    if (options.reset === true) await rm(file, { force: true });
    if (existsSync(file)) {
      // A damaged key is an error to fix by hand (or with reset), never silently replaced.
      readCaPrivateKey(await readFile(file, 'utf8'));
      continue;
    }
    await writeCaFiles(file, generateCaKey('ssh-ed25519', CA_COMMENTS[kind]));
    created[kind] = true;
  }
  return { files, created };
};

/** The environment that points the functions of the local stage at these files. */
export const localCaEnv = (ca: LocalCa): Record<string, string> => ({
  CA_KEY_SOURCE: 'file',
  CA_USER_KEY: ca.files.user,
  CA_HOST_KEY: ca.files.host,
});
