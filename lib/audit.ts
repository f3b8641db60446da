// The audit trail: one JSON line for every change the service makes to the directory (adds,
// modifies, deletes, password changes; the undo of a failed write included), written by
// lib/directory.ts's DirectoryClient as each write succeeds (or may have: outcome `unknown`).
// It says who (the request's caller, request id, route, source address), which entry, which
// attributes and which values, by identity: SSH keys and certificates by key id, fingerprint and
// serial, DNs as written, a password only as "password changed"; host credentials and session
// values by what they are, never their text (hashes and session ids stay out of the logs).
// Its own Logger, whose level is fixed here: LOG_LEVEL cannot silence it (README: Logs, metrics
// and audit).
import { Logger } from '@aws-lambda-powertools/logger';
import { BerReader, type Attribute, type Change } from 'ldapts';
import { logFields, serviceName } from './log.js';
import { fingerprintOf } from './sshkeys.js';

export const auditLogger = new Logger({ serviceName: serviceName(), logLevel: 'INFO' });

export interface AuditedChange {
  attribute: string;
  operation: 'add' | 'delete' | 'replace';
  /** The values' identities (what they are, never a secret); empty when a replace or delete empties the attribute. */
  values: string[];
}

export interface AuditedWrite {
  operation: 'add' | 'modify' | 'delete' | 'password' | 'extended' | 'unknown';
  /** The entry, when the operation's own DN is not it (a Password Modify names it in its value). */
  dn?: string;
  changes?: AuditedChange[];
  oid?: string;
  /** Why the change could not be described. */
  error?: string;
}

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** More values than this in one attribute are counted, not listed (a line must stay under CloudWatch's 256 KB). */
const MAX_LISTED = 1_000;

const asText = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/** A key line's fingerprint (`type base64 [comment]`), or undefined when it is not one. */
const lineFingerprint = (line: string): string | undefined => {
  const blob = line.trim().split(/\s+/)[1];
  return blob === undefined || !/^[A-Za-z0-9+/]+=*$/.test(blob) ? undefined : fingerprintOf(Buffer.from(blob, 'base64'));
};

/** A stored sshPublicKey value (Keyper's JSON, or a bare key line) by key id, fingerprint and, for a certificate, serial. */
const keyIdentity = (raw: string): string => {
  let stored: unknown;
  try {
    stored = JSON.parse(raw);
  } catch {
    return lineFingerprint(raw) ?? 'unreadable key value';
  }
  if (typeof stored !== 'object' || stored === null) return 'unreadable key value';
  const { keyid, keytype, fingerprint, serial, key } = stored as Record<string, unknown>;
  const print = typeof fingerprint === 'string' ? fingerprint : typeof key === 'string' ? lineFingerprint(key) : undefined;
  return [
    keytype === 1 ? 'certificate' : 'key',
    ...(typeof keyid === 'number' ? [`keyid ${keyid}`] : []),
    ...(keytype === 1 && (typeof serial === 'string' || typeof serial === 'number') ? [`serial ${serial}`] : []),
    print ?? 'no fingerprint',
  ].join(' ');
};

/** labeledURI holds our host credentials (a hash) and session state (session ids): what each is, not its text. */
const uriIdentity = (uri: string): string => {
  if (uri.startsWith('urn:keyper:host-credential:')) return 'host credential';
  if (uri.startsWith('urn:keyper:session-generation:')) return 'session generation';
  if (uri.startsWith('urn:keyper:revoked-session:')) return 'revoked session';
  return 'labeledURI value';
};

const SECRET_NAME = /password|secret|token|credential|privatekey/i;

/** What an audit line says of an attribute's values. */
export const identities = (attribute: string, vals: readonly unknown[]): string[] => {
  const name = attribute.toLowerCase();
  const texts = vals.slice(0, MAX_LISTED).map(asText);
  const listed =
    name === 'userpassword' ? [vals.length === 0 ? 'password removed' : 'password changed']
    : name === 'sshpublickey' ? texts.map(keyIdentity)
    : name === 'labeleduri' ? texts.map(uriIdentity)
    : SECRET_NAME.test(name) ? texts.map(() => 'value withheld')
    : texts;
  return vals.length > MAX_LISTED && name !== 'userpassword' ? [...listed, `and ${vals.length - MAX_LISTED} more`] : listed;
};

type AddAttributes = Attribute[] | Record<string, string[] | string>;

/** An add's attributes, each with its values' identities. */
export const addedAttributes = (attributes: AddAttributes): AuditedChange[] => {
  const list = Array.isArray(attributes) ? attributes.map((a) => [a.type, a.values] as const) : Object.entries(attributes).map(([type, v]) => [type, [v].flat()] as const);
  return list.map(([attribute, vals]) => ({ attribute, operation: 'add', values: identities(attribute, vals) }));
};

export const modifiedAttributes = (changes: Change | Change[]): AuditedChange[] =>
  [changes].flat().map(({ operation, modification }) => ({
    attribute: modification.type,
    operation: operation as AuditedChange['operation'],
    values: identities(modification.type, modification.values),
  }));

/** The entry a Password Modify request names (RFC 3062 userIdentity); the new password is never read. */
export const passwordModifyTarget = (value: Buffer | string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  try {
    const reader = new BerReader(Buffer.isBuffer(value) ? value : Buffer.from(value));
    reader.readSequence();
    return reader.readString(0x80) ?? undefined;
  } catch {
    return undefined;
  }
};

/**
 * Writes the audit line of a write, with the request's fields (who, from where, which request).
 * Never throws: the write is made, and a line that cannot be described still says which entry.
 */
export const audit = (write: () => AuditedWrite, facts: { outcome: 'done' | 'unknown'; undo: boolean; dn: string }): void => {
  let described: AuditedWrite;
  try {
    described = write();
  } catch (error) {
    described = { operation: 'unknown', dn: facts.dn, error: String(error) };
  }
  auditLogger.info('audit', { ...logFields(), dn: facts.dn, ...described, outcome: facts.outcome, undo: facts.undo });
};
