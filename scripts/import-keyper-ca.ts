// `npm run import-keyper-ca -- <Keyper's sshca folder> [--stage <name>]`: keeps a team's CAs when
// it switches from Keyper, so every sshd's TrustedUserCAKeys and every client's @cert-authority
// line stay valid. Reads the folder as Keyper keeps it (README.md, "Switching from Keyper", step 4):
// `ca_user_key` and `ca_host_key` (unencrypted OpenSSH private keys as ssh-keygen writes them,
// Ed25519, ECDSA or RSA) and, when there is one, `ca_krl` (the KRL `ssh-keygen -k` maintains).
// - The keys go where the stage reads them: for the local stage (the default) into the data
//   folder's CA directory (`.local/ca`, or LOCAL_DATA_DIR), as they are; for a deployed stage it
//   prints the `aws ssm put-parameter` commands for its SecureString parameters (this machine
//   has no AWS access; run them where you deploy from).
// - The KRL's revocations go into the directory (lib/revocations.ts), through LDAP_URL,
//   LDAP_BASE_DN, LDAP_BIND_DN and LDAP_BIND_PASSWORD (the local directory's by default): serials
//   per CA, and keys (whole keys or SHA256 hashes) by fingerprint. Importing twice is harmless.
//   What a KRL can say and this service cannot (certificates revoked by key id, SHA1 hashes) is
//   reported, never silently dropped.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from 'ldapts';
import type { CaKind } from '../lib/cakeys.js';
import { withDirectory } from '../lib/directory.js';
import { readKrl, type KrlContents } from '../lib/krl.js';
import { revokeCertificate, revokeKey } from '../lib/revocations.js';
import { caPublicLine, readCaPrivateKey, type CaKey } from '../lib/sshca.js';
import { CA_FILES } from './ca.js';
import { directoryOptionsFromEnv } from './directory.js';

export const KRL_FILE = 'ca_krl';

/** A KRL range this long is refused: it would be that many entries (ssh-keygen writes ranges for runs). */
const MAX_SERIALS = 1_000_000;

export interface ImportOptions {
  /** Keyper's SSH_CA_DIR. */
  folder: string;
  /** Where the local stage reads the CA files; undefined for a deployed stage. */
  caDir?: string;
  /** The deployed stage's name, for the SSM parameter names it prints. */
  stage?: string;
  ldap: { url: string; baseDN: string; bindDN: string; bindPassword: string };
  log?: (line: string) => void;
}

export interface ImportResult {
  cas: Record<CaKind, CaKey>;
  revokedSerials: number;
  revokedKeys: number;
  /** What the KRL holds that cannot be imported, in words. */
  skipped: string[];
  /** The commands that store the keys in SSM (deployed stages). */
  ssmCommands: string[];
}

const readCa = async (folder: string, kind: CaKind): Promise<{ text: string; ca: CaKey }> => {
  const file = path.join(folder, CA_FILES[kind]);
  if (!existsSync(file)) throw new Error(`${file} is missing: Keyper keeps its ${kind} CA there`);
  const text = await readFile(file, 'utf8');
  let ca: CaKey;
  try {
    ca = readCaPrivateKey(text);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
  // The .pub beside it is what servers trust: it must be this key's.
  const pub = `${file}.pub`;
  if (existsSync(pub)) {
    const published = (await readFile(pub, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    if (published !== caPublicLine(ca, '')) throw new Error(`${pub} is not the public key of ${file}`);
  }
  return { text, ca };
};

/** The serials and keys of a KRL as revocations; `cas` name the CAs a section for any CA applies to. */
export const krlRevocations = (
  krl: KrlContents,
  cas: CaKey[],
): { certificates: { ca: Buffer; serial: bigint }[]; fingerprints: string[]; skipped: string[] } => {
  const certificates: { ca: Buffer; serial: bigint }[] = [];
  const skipped: string[] = [];
  for (const section of krl.certificates) {
    const targets = section.ca === undefined ? cas.map((ca) => ca.blob) : [section.ca.blob];
    for (const [low, high] of section.serials) {
      if (high - low + 1n + BigInt(certificates.length) > BigInt(MAX_SERIALS)) {
        throw new Error(`the KRL revokes more than ${MAX_SERIALS} serials (a range ${low}-${high}): import it in parts`);
      }
      for (let serial = low; serial <= high; serial += 1n) for (const ca of targets) certificates.push({ ca, serial });
    }
    if (section.keyIds.length > 0) skipped.push(`${section.keyIds.length} certificate(s) revoked by key id (${section.keyIds.slice(0, 5).join(', ')}): revoke their serials instead`);
  }
  if (krl.sha1.length > 0) skipped.push(`${krl.sha1.length} key(s) revoked by SHA1 hash: they cannot be turned into SHA256 fingerprints; revoke those keys again by removing them`);
  const fingerprints = [...new Set([...krl.keys.map((key) => key.fingerprint), ...krl.sha256])];
  return { certificates, fingerprints, skipped };
};

/** Runs `tasks` a few at a time (the directory takes concurrent adds; a pool keeps it civil). */
const inPool = async <T>(items: T[], size: number, task: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await task(item as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
};

export const importKeyperCa = async (options: ImportOptions): Promise<ImportResult> => {
  const log = options.log ?? (() => undefined);
  const user = await readCa(options.folder, 'user');
  const host = await readCa(options.folder, 'host');
  const cas = { user: user.ca, host: host.ca };
  log(`user CA ${user.ca.type} ${user.ca.fingerprint}; host CA ${host.ca.type} ${host.ca.fingerprint}`);

  const ssmCommands: string[] = [];
  if (options.caDir !== undefined) {
    await mkdir(options.caDir, { recursive: true, mode: 0o700 });
    for (const [kind, { text, ca }] of [['user', user], ['host', host]] as const) {
      const file = path.join(options.caDir, CA_FILES[kind]);
      await writeFile(file, text, { mode: 0o600 });
      await writeFile(`${file}.pub`, `${caPublicLine(ca)}\n`, { mode: 0o644 });
      log(`${kind} CA written to ${file}`);
    }
  } else {
    const stage = options.stage ?? 'prod';
    for (const kind of ['user', 'host'] as const) {
      ssmCommands.push(
        `aws ssm put-parameter --type SecureString --overwrite --name /keyper/${stage}/ca-${kind}-key --value file://${path.resolve(options.folder, CA_FILES[kind])}`,
      );
    }
  }

  const krlFile = path.join(options.folder, KRL_FILE);
  let revokedSerials = 0;
  let revokedKeys = 0;
  let skipped: string[] = [];
  if (existsSync(krlFile)) {
    const krl = readKrl(await readFile(krlFile));
    const revocations = krlRevocations(krl, [user.ca, host.ca]);
    skipped = revocations.skipped;
    const { url, baseDN, bindDN, bindPassword } = options.ldap;
    await withDirectory(
      async (client: Client) => {
        await inPool(revocations.certificates, 8, (revocation) => revokeCertificate(client, baseDN, revocation));
        await inPool(revocations.fingerprints, 8, (fingerprint) => revokeKey(client, baseDN, fingerprint));
      },
      { dn: bindDN, password: bindPassword },
      { url, urls: url.split(',').map((one) => one.trim()), startTls: false, tlsInsecure: false, baseDN, bindDN, bindPassword, connectTimeoutMs: 5_000, timeoutMs: 30_000, undoReserveMs: 0 },
    );
    revokedSerials = revocations.certificates.length;
    revokedKeys = revocations.fingerprints.length;
    log(`${krlFile}: ${revokedSerials} certificate serial(s) and ${revokedKeys} key(s) revoked in the directory`);
    for (const line of skipped) log(`not imported: ${line}`);
  } else {
    log(`no ${KRL_FILE} in ${options.folder}: no revocations to import`);
  }
  return { cas, revokedSerials, revokedKeys, skipped, ssmCommands };
};

// ---------------------------------------------------------------------------------------------
// The command line

const usage = 'usage: npm run import-keyper-ca -- <Keyper\'s sshca folder> [--stage <name>]  (default stage: local)';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const stageAt = args.indexOf('--stage');
  const stage = stageAt === -1 ? 'local' : args[stageAt + 1];
  const folder = args.find((arg, index) => !arg.startsWith('--') && (stageAt === -1 || index !== stageAt + 1));
  if (folder === undefined || stage === undefined) throw new Error(usage);
  const local = directoryOptionsFromEnv();
  const env = process.env;
  const result = await importKeyperCa({
    folder,
    ...(stage === 'local' ? { caDir: path.join(local.dataDir, 'ca') } : { stage }),
    ldap: {
      url: env.LDAP_URL || `ldap://127.0.0.1:${local.port}`,
      baseDN: local.baseDN,
      bindDN: local.bindDN,
      bindPassword: local.bindPassword,
    },
    log: (line) => console.log(`[import] ${line}`),
  });
  if (result.ssmCommands.length > 0) {
    console.log(`[import] store the keys as SSM SecureString parameters of stage ${stage} (where you deploy from):`);
    for (const command of result.ssmCommands) console.log(command);
  } else {
    console.log('[import] restart `npm start` so the functions read the imported CAs');
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}

