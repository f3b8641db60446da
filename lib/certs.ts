// Certificates on users and hosts (`sshPublicCerts`), stored as Keyper stores them: values of
// sshPublicKey with keytype 1, keyids from 100, the certificate line in `cert`, its expiry in
// `dateExpire` and, for users, the host groups it is meant for. Additions are checked like keys
// (lib/keys.ts), signed by the entry's CA (lib/sshcert.ts) and added value by value; removals
// delete exactly the stored value and revoke the certificate's serial (lib/revocations.ts).
import type { Client } from 'ldapts';
import * as z from './zod.js';
import { badRequest, conflict } from './errors.js';
import {
  addStoredValue,
  deleteKeyValue,
  formatExpiry,
  keyIdOf,
  parseExpiry,
  prepareAdditions,
  restoreKeyValue,
  storedFingerprint,
  type NewKey,
  type StoredKey,
  type StoredValue,
  type ValueKind,
} from './keys.js';
import { revokeCertificate, revokeKey } from './revocations.js';
import type { CaKey } from './sshca.js';
import { CertificateError, certificateValidity, randomSerial, signCertificate, type CertificateType } from './sshcert.js';
import { decodeBase64, fingerprintOf, isKeyType, readKeyFields } from './sshkeys.js';
import { WireReader, wireString } from './sshwire.js';
import { dnList, textField } from './validation.js';
import type { Journal } from './writes.js';

// ---- input: entries without keyid are certified and added, entries with keyid are removed ----

const fingerprint = /* @__PURE__ */ z.lazy(() => z.optional(z.string().check(z.maxLength(100, 'must be at most 100 characters'))));

/** A user's key to certify: like a key, for the host groups the certificate is meant for. */
export const UserCertAdditionSchema = /* @__PURE__ */ z.lazy(() =>
  z.strictObject({
    name: z.optional(textField(100)),
    key: z.string(),
    /** Optional: when sent, it must be the server's. */
    fingerprint,
    hostGroups: z._default(dnList, []),
  }),
);

/** A host's key to certify (host certificates are for every client: no host groups). */
export const HostCertAdditionSchema = /* @__PURE__ */ z.lazy(() => z.strictObject({ name: z.optional(textField(100)), key: z.string(), fingerprint }));

/** Keyper's console sends the whole stored certificate to remove it: keyid (and fingerprint) matter. */
export const CertRemovalSchema = /* @__PURE__ */ z.lazy(() =>
  z.looseObject({
    keyid: z.number().check(z.int(), z.minimum(100, 'must be at least 100'), z.maximum(1_000_000, 'must be at most 1000000')),
    fingerprint: z.optional(z.unknown()),
  }),
);

export type CertAddition = { name?: string | undefined; key: string; fingerprint?: string | undefined; hostGroups?: string[] };
export type CertRemoval = z.infer<typeof CertRemovalSchema>;
export type CertChange = CertAddition | CertRemoval;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One entry of sshPublicCerts: a removal when it has a keyid, else an addition (so a 400 names the right fields). */
const certChange = (addition: z.ZodMiniType<CertAddition>) =>
  z.pipe(
    z.unknown(),
    z.transform((entry, ctx): CertChange => {
      const schema = isRecord(entry) && entry.keyid !== undefined ? CertRemovalSchema : addition;
      const result = z.safeParse(schema as z.ZodMiniType<CertChange>, entry);
      if (result.success) return result.data;
      for (const issue of result.error.issues) ctx.issues.push({ ...issue, input: entry } as z.core.$ZodRawIssue);
      return z.NEVER;
    }),
  );

export const userCertChange = /* @__PURE__ */ certChange(UserCertAdditionSchema);
export const hostCertChange = /* @__PURE__ */ certChange(HostCertAdditionSchema);

const certList = (change: typeof userCertChange) => z.array(change).check(z.maxLength(100, 'must be at most 100 certificates'));

export const userCertChanges = /* @__PURE__ */ certList(userCertChange);
export const hostCertChanges = /* @__PURE__ */ certList(hostCertChange);

const isRemoval = (change: CertChange): change is CertRemoval => 'keyid' in change;

// ---- stored values ----

export const isCertificate = (key: StoredKey): boolean => key.keytype === 1;

/** Certificates number from 100: one past the highest certificate keyid, skipping ids any value uses. */
export const nextCertId = (stored: StoredKey[]): number => {
  const used = new Set(stored.map(keyIdOf).filter((id): id is number => id !== undefined));
  const certs = stored.filter(isCertificate).map(keyIdOf).filter((id): id is number => id !== undefined && id >= 100);
  let id = certs.length === 0 ? 100 : Math.max(...certs) + 1;
  while (used.has(id)) id += 1;
  return id;
};

/** A certificate is a duplicate of an unexpired certificate of the same key (an expired one may be renewed). */
const certificates = (now: Date): ValueKind => ({
  blocks: (key) => isCertificate(key) && (parseExpiry(key.dateExpire)?.getTime() ?? Infinity) > now.getTime(),
  nextId: nextCertId,
  duplicate: (fp) => conflict(`A certificate of SSH key ${fp} is already stored`),
});

/** What removing a stored certificate needs: its serial, its CA and the certified key. */
export interface CertificateFacts {
  serial: bigint;
  /** The signing CA's public key (SSH wire form). */
  ca: Buffer;
  /** The certified key's fingerprint. */
  fingerprint: string;
}

/**
 * Reads a certificate line's serial, CA and key (PROTOCOL.certkeys field order) without checking
 * its signature: these are our own stored values, read to show or revoke them, and reads of users
 * and hosts then need no signature code. Undefined when the line is not a certificate.
 */
export const certificateFacts = (line: string): CertificateFacts | undefined => {
  try {
    const [certType = '', base64 = ''] = line.trim().split(/[ \t]+/);
    const keyType = certType.replace(/-cert-v01@openssh\.com$/, '');
    if (keyType === certType || !isKeyType(keyType)) return undefined;
    const blob = decodeBase64(base64);
    const reader = new WireReader(blob, () => {
      throw new Error('truncated');
    });
    if (reader.readString().toString('latin1') !== certType) return undefined;
    reader.readString(); // nonce
    const fieldsStart = reader.offset;
    readKeyFields(keyType, reader);
    const keyBlob = Buffer.concat([wireString(keyType), blob.subarray(fieldsStart, reader.offset)]);
    const serial = reader.readUint64();
    reader.readUint32(); // type
    for (let field = 0; field < 2; field += 1) reader.readString(); // key id, principals
    reader.readUint64(); // valid after
    reader.readUint64(); // valid before
    for (let field = 0; field < 3; field += 1) reader.readString(); // critical options, extensions, reserved
    return { serial, ca: reader.readString(), fingerprint: fingerprintOf(keyBlob) };
  } catch {
    return undefined;
  }
};

/** The serial of a stored certificate: the stored field, else read from its certificate line. */
export const storedSerial = (key: StoredKey): string | undefined => {
  if (typeof key.serial === 'string' && /^\d{1,20}$/.test(key.serial)) return key.serial;
  const serial = typeof key.cert === 'string' ? certificateFacts(key.cert)?.serial : undefined;
  return serial === undefined ? undefined : String(serial);
};

/** A stored certificate as responses show it (Keyper's values get their serial from the certificate). */
export const certJson = (key: StoredKey): StoredKey => {
  const serial = storedSerial(key);
  return serial === undefined ? key : { ...key, serial };
};

// ---- signing ----

/** A key that passed every check and was signed, ready to be stored. */
export interface NewCert extends NewKey {
  cert: string;
  serial: bigint;
  dateExpire: string;
}

export interface Signing {
  ca: CaKey;
  type: CertificateType;
  /** The user or host name. */
  keyId: string;
  principals: string[];
  now: Date;
  /** How long the certificates are valid, from now. */
  durationSeconds: number;
}

/** Signs each key; a refused principal or key type is a 400 before anything is stored. */
export const signKeys = (keys: NewKey[], signing: Signing, field: string): NewCert[] => {
  const now = Math.floor(signing.now.getTime() / 1000);
  const validity = certificateValidity(now, signing.durationSeconds);
  return keys.map((key, index) => {
    try {
      const signed = signCertificate(signing.ca, {
        publicKey: key.key,
        type: signing.type,
        keyId: signing.keyId,
        principals: signing.principals,
        ...validity,
        serial: randomSerial(),
      });
      return { ...key, cert: signed.line, serial: signed.serial, dateExpire: formatExpiry(new Date(validity.validBefore * 1000)) };
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      throw badRequest(`Invalid ${field}.${index}: ${error.message}`, { errors: { [`${field}.${index}`]: error.message } });
    }
  });
};

/** The stored JSON of a new certificate (hostGroups only on users' certificates). */
export const certValue = (cert: NewCert, keyid: number, type: CertificateType): string =>
  JSON.stringify({
    name: cert.name,
    key: cert.key,
    fingerprint: cert.fingerprint,
    ...(type === 'user' ? { hostGroups: cert.hostGroups } : {}),
    keyid,
    keytype: 1,
    dateExpire: cert.dateExpire,
    cert: cert.cert,
    serial: String(cert.serial),
  });

/** Values for the certificates of an entry being created: nobody else can write it yet, so 100.. */
export const initialCertValues = (certs: NewCert[], type: CertificateType): string[] => certs.map((cert, index) => certValue(cert, 100 + index, type));

// ---- plans ----

/** What one request does to an entry's certificates, decided before the first write. */
export interface CertPlan {
  remove: StoredValue[];
  /** Keys to certify (signed by signPlan once the CA is at hand). */
  add: NewKey[];
  remaining: StoredValue[];
}

/**
 * Decides a request's certificate changes: removals name stored certificates (by keyid and, when
 * sent, fingerprint; one gone already is nothing to do), additions are checked as keys are (for
 * users, host groups among `memberOf`).
 */
export const planCertChanges = (changes: CertChange[], memberOf: string[], stored: StoredValue[], field = 'sshPublicCerts'): CertPlan => {
  const removals = changes.filter(isRemoval);
  const additions = changes.filter((change): change is CertAddition => !isRemoval(change));
  const add = prepareAdditions(
    additions.map((addition) => ({ name: addition.name ?? '', key: addition.key, ...(addition.fingerprint === undefined ? {} : { fingerprint: addition.fingerprint }), hostGroups: addition.hostGroups ?? [] })),
    memberOf,
    field,
  );
  const remove = stored.filter(({ key }) =>
    isCertificate(key) &&
    removals.some((removal) => removal.keyid === keyIdOf(key) && (typeof removal.fingerprint !== 'string' || removal.fingerprint === storedFingerprint(key))),
  );
  return { remove, add, remaining: stored.filter((value) => !remove.includes(value)) };
};

/**
 * Revokes the certificates a plan removes: each serial under its CA and, unless the same request
 * certifies the key again (a renewal), the key as one that may not be certified or stored again.
 * A stored certificate that cannot be read is revoked by its key's fingerprint instead.
 */
const revokeRemoved = async (client: Client, baseDN: string, plan: CertPlan): Promise<void> => {
  const renewed = new Set(plan.add.map((key) => key.fingerprint));
  for (const { key } of plan.remove) {
    const fingerprint = storedFingerprint(key);
    const facts = typeof key.cert === 'string' ? certificateFacts(key.cert) : undefined;
    if (facts !== undefined && facts.serial > 0n) {
      const keyFingerprint = renewed.has(facts.fingerprint) ? undefined : facts.fingerprint;
      await revokeCertificate(client, baseDN, { ca: facts.ca, serial: facts.serial, ...(keyFingerprint === undefined ? {} : { fingerprint: keyFingerprint }) });
    } else if (fingerprint !== undefined && /^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint)) {
      await revokeKey(client, baseDN, fingerprint);
    }
  }
};

/**
 * Writes a certificate plan value by value as journal steps: deletions, additions (each with a
 * keyid no other value has, lib/keys.ts addStoredValue), each undone alone when a later step
 * fails. The revocations of what was removed come at the end of the request (Journal.atEnd): a
 * revocation is never taken back (failing, it errs on the safe side).
 */
export const applyCertPlan = async (journal: Journal, dn: string, plan: CertPlan, certs: NewCert[], type: CertificateType, baseDN: string, now: Date): Promise<void> => {
  for (const { raw } of plan.remove) {
    await journal.write(`delete a certificate of ${dn}`, (c) => deleteKeyValue(c, dn, raw), (c) => restoreKeyValue(c, dn, raw));
  }
  let current = plan.remaining;
  for (const cert of certs) {
    current = (await addStoredValue(journal, dn, cert.fingerprint, (keyid) => certValue(cert, keyid, type), certificates(now), current)).current;
  }
  journal.atEnd(`revoke the certificates removed from ${dn}`, (c) => revokeRemoved(c, baseDN, plan));
};
