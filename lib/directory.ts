// The only place that opens LDAP connections: connect (TLS by ldaps:// or StartTLS), bind, work,
// unbind in a `finally`, per invocation, within the invocation's time budget (lib/budget.ts), on the
// first of the configured servers that answers. Also the small helpers that normalise ldapts'
// answers (string vs array values).
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import {
  BusyError,
  Client,
  NoSuchObjectError,
  ResultCodeError,
  SizeLimitExceededError,
  UnavailableError,
  type Change,
  type Control,
  type DN,
  type Entry,
  type Filter,
  type SaslMechanism,
  type SearchOptions,
  type SearchResult,
} from 'ldapts';
import { addedAttributes, audit, modifiedAttributes, PASSWORD_MODIFY_OID, passwordModifyTarget, type AuditedWrite } from './audit.js';
import { OutOfTimeError, UNLIMITED, type Budget } from './budget.js';
import { config, type LdapConfig } from './config.js';
import { normalizeDN } from './dn.js';
import { isDirectoryUnavailable, isTlsFailure } from './errors.js';
import { log } from './log.js';
import { remembered } from './memo.js';
import { directoryLatency } from './metrics.js';

export interface Credentials {
  readonly dn: string;
  readonly password: string;
}

/**
 * The bound connection was lost. ldapts would reconnect by itself on the next operation, but
 * without a bind: anonymous, every read would look empty and every write be refused.
 */
export class ConnectionLostError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('Directory connection lost');
  }
}

/** Whether an error says the connection failed or time ran out, rather than the directory refusing. */
export const isConnectionFailure = (error: unknown): boolean =>
  !(error instanceof ResultCodeError) && isDirectoryUnavailable(error);

/**
 * A server's TLS could not be trusted or set up: certificate of an unknown CA, for another host or
 * expired, handshake failed, StartTLS refused. Never a reason to try the next server: it is a
 * configuration error or an attack, and must not end on a plain connection to another one.
 */
export class DirectoryTlsError extends Error {
  /** Answered as the directory being unavailable (lib/errors.ts). */
  readonly code = 'EDIRECTORYTLS';
  constructor(url: string, cause: unknown) {
    super(`TLS with ${url} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Whether the next server should be tried after `error`: this one could not be reached or cannot serve. */
const isServerFailure = (error: unknown): boolean =>
  !(error instanceof DirectoryTlsError || error instanceof OutOfTimeError) &&
  (isConnectionFailure(error) || error instanceof BusyError || error instanceof UnavailableError);

/** Node's TLS options for `url`: the configured CAs (else Node's), certificates checked unless the local stage says not. */
const tlsOptions = (ldap: LdapConfig, url: string): ConnectionOptions => {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, ...(isIP(host) === 0 ? { servername: host } : {}), ...(ldap.ca === undefined ? {} : { ca: ldap.ca }), rejectUnauthorized: !ldap.tlsInsecure };
};

/** The StartTLS extended operation (RFC 4511, 4.14). */
const STARTTLS = '1.3.6.1.4.1.1466.20037';

/** Whether an operation that failed with `error` certainly did not change the directory. */
export const certainlyNotDone = (error: unknown): boolean =>
  error instanceof ConnectionLostError ||
  (error instanceof OutOfTimeError && !error.sent) ||
  !isConnectionFailure(error);

/** `open`: connect, TLS and the first bind, which together have the connect timeout. */
type Kind = 'open' | 'read' | 'write';

const cutOff = (): Error => new OutOfTimeError('Directory operation cut off at the end of the time budget', true);
/** ldapts' own message for it: a connection failure (lib/errors.ts), so the next server is tried. */
const connectTimedOut = (): Error => new Error('Connection timeout');

/** What a modify must assert besides its own controls, and the error its failure becomes. */
export interface Precondition {
  controls: (own: Control[]) => Control[];
  failed: (error: unknown) => Promise<unknown>;
}

/**
 * An ldapts client that keeps to the invocation's budget: no operation starts after Middy's abort
 * or on a lost connection; work operations end by `workEnd` (cut off, connection dropped, when
 * they would run longer), a write starts only when the slowest operation seen so far would still
 * fit; operations of the undo may use the time up to `end`.
 */
export class DirectoryClient extends Client {
  private bindCount = 0;
  private slowestMs = 0;
  /** Set for the undo (lib/writes.ts): its operations may use the time up to the budget's end. */
  undoing = false;
  /** A second connection for the undo (lib/writes.ts), closed with this one. */
  spare: Promise<DirectoryClient> | undefined;
  private readonly preconditions = new Map<string, Precondition>();
  private readonly onAbort = (): void => this.drop();

  /** Upgraded by StartTLS before the bind (ldap:// with LDAP_STARTTLS). */
  private readonly startTls: boolean;
  /** TLS from the start (ldaps://): an error of the connect that is not the network's is a TLS failure. */
  private readonly ldaps: boolean;

  constructor(
    readonly ldap: LdapConfig,
    readonly credentials: Credentials,
    /** One of ldap.urls: the server this connection goes to. */
    readonly url: string,
    readonly budget: Budget = UNLIMITED,
  ) {
    // TLS options only for ldaps://: given with ldap:// they would make ldapts speak TLS at once.
    const ldaps = url.startsWith('ldaps:');
    super({ url, connectTimeout: ldap.connectTimeoutMs, timeout: ldap.timeoutMs, strictDN: true, ...(ldaps ? { tlsOptions: tlsOptions(ldap, url) } : {}) });
    this.startTls = ldap.startTls && !ldaps;
    this.ldaps = ldaps;
    budget.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Connects (with StartTLS when configured) if not connected, and binds: a TLS failure becomes a DirectoryTlsError. */
  override async bind(dn: DN | SaslMechanism | string, password?: string, controls?: Control | Control[]): Promise<void> {
    await this.run('open', async () => {
      // Never a bind on a connection that StartTLS did not secure (ldapts would connect in plain).
      // A TLS failure is told by its code first: its message may hold the certificate's names.
      if (this.startTls && !this.isConnected) {
        await this.startTLS(tlsOptions(this.ldap, this.url)).catch((error: unknown) => {
          throw isTlsFailure(error) || !isConnectionFailure(error) ? new DirectoryTlsError(this.url, error) : error;
        });
      }
      await super.bind(dn, password, controls).catch((error: unknown) => {
        const tlsFailed = isTlsFailure(error) || (this.ldaps && !(error instanceof ResultCodeError) && !isConnectionFailure(error));
        throw tlsFailed ? new DirectoryTlsError(this.url, error) : error;
      });
    });
    this.bindCount += 1;
  }

  override add(dn: DN | string, attributes: Parameters<Client['add']>[1], controls?: Control | Control[]): Promise<void> {
    return this.audited(dn, () => ({ operation: 'add', changes: addedAttributes(attributes) }), () => this.run('write', () => super.add(dn, attributes, controls)));
  }

  override modify(dn: DN | string, changes: Change | Change[], controls?: Control | Control[]): Promise<void> {
    const key = normalizeDN(dn.toString());
    const precondition = this.preconditions.get(key);
    this.preconditions.delete(key);
    const own = controls === undefined ? [] : [controls].flat();
    return this.audited(
      dn,
      () => ({ operation: 'modify', changes: modifiedAttributes(changes) }),
      () => this.run('write', () => super.modify(dn, changes, precondition?.controls(own) ?? own)),
    ).catch(async (error: unknown) => {
      throw precondition === undefined ? error : await precondition.failed(error);
    });
  }

  /** Makes the next modify of `dn` on this connection carry a precondition (lib/etags.ts). */
  precondition(dn: string, precondition: Precondition): void {
    this.preconditions.set(normalizeDN(dn), precondition);
  }

  override del(dn: DN | string, controls?: Control | Control[]): Promise<void> {
    return this.audited(dn, () => ({ operation: 'delete' }), () => this.run('write', () => super.del(dn, controls)));
  }

  /** Extended operations are counted as writes: Password Modify; StartTLS is part of bind's opening. */
  override exop(oid: string, value?: Buffer | string, controls?: Control | Control[]): Promise<{ oid?: string; value?: string }> {
    if (oid === STARTTLS) return super.exop(oid, value, controls);
    return this.audited(
      '',
      () => (oid === PASSWORD_MODIFY_OID ? { operation: 'password', dn: passwordModifyTarget(value), changes: [{ attribute: 'userPassword', operation: 'replace', values: ['password changed'] }] } : { operation: 'extended', oid }),
      () => this.run('write', () => super.exop(oid, value, controls)),
    );
  }

  /**
   * Runs a write and writes its audit line (lib/audit.ts) once it is done, or may be: sent when
   * the connection failed or time ran out. A write the directory refused changed nothing.
   */
  private async audited<T>(dn: DN | string, what: () => AuditedWrite, write: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (error) {
      if (!certainlyNotDone(error)) audit(what, { dn: dn.toString(), outcome: 'unknown', undo: this.undoing });
      throw error;
    }
    audit(what, { dn: dn.toString(), outcome: 'done', undo: this.undoing });
    return result;
  }

  override search(base: DN | string, options?: SearchOptions, controls?: Control | Control[]): Promise<SearchResult> {
    return this.run('read', () => super.search(base, options, controls));
  }

  // compare and modifyDN are not used by the service: they run without the budget's checks.

  /** Unbinds this connection and the spare, never throwing. */
  async close(): Promise<void> {
    this.budget.signal?.removeEventListener('abort', this.onAbort);
    const spare = this.spare?.catch(() => undefined);
    this.spare = undefined;
    await Promise.all([unbindQuietly(this), spare?.then((client) => client?.close())]);
  }

  private async run<T>(kind: Kind, operation: () => Promise<T>): Promise<T> {
    if (!this.undoing && this.budget.signal?.aborted === true) throw new OutOfTimeError('Request aborted', false);
    if (this.bindCount > 0 && !this.isBound) throw new ConnectionLostError();
    const left = (this.undoing ? this.budget.end : this.budget.workEnd) - Date.now();
    if (left <= 0 || (kind === 'write' && left < this.slowestMs)) {
      throw new OutOfTimeError(`No time left for a directory ${kind}`, false);
    }
    const started = Date.now();
    // Opening has the connect timeout as a whole, so that a server that takes connections but does
    // not answer is left for the next one (ldapts times the TCP connect alone, and not StartTLS).
    const connecting = kind === 'open' && this.ldap.connectTimeoutMs < left;
    try {
      return await this.within(connecting ? this.ldap.connectTimeoutMs : left, operation, connecting ? connectTimedOut : cutOff, kind === 'open');
    } finally {
      this.slowestMs = Math.max(this.slowestMs, Date.now() - started);
      directoryLatency(Date.now() - started);
    }
  }

  /** Runs an operation for at most `ms`, else fails with `expired()` (ldapts' own timeout covers the longer ones, but opening). */
  private async within<T>(ms: number, operation: () => Promise<T>, expired: () => Error, always: boolean): Promise<T> {
    if (!always && ms >= this.ldap.timeoutMs) return operation();
    let timer: NodeJS.Timeout | undefined;
    const cutOff = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.drop();
        reject(expired());
      }, ms);
    });
    try {
      return await Promise.race([operation(), cutOff]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the socket at once: operations in flight fail, later ones meet ConnectionLostError. */
  private drop(): void {
    super.unbind().catch(() => undefined);
  }
}

/** Closes a client without letting a failing unbind hide the work's own result or error. */
const unbindQuietly = async (client: Client): Promise<void> => {
  try {
    await client.unbind();
  } catch (error) {
    log('warn', 'LDAP unbind failed', { error: String(error) });
  }
};

/**
 * How long a server that could not be reached is tried after the others. A warm function keeps this memory
 * between its requests, so that a silent server costs one request its connect timeout, not every
 * request; it is still tried, last, meanwhile, and first again afterwards.
 */
export const SERVER_RETRY_MS = 30_000;

/** When each server of this process could last not be reached (by URL); a server that accepts a bind is forgotten. */
const lastFailures = new Map<string, number>();

/** Forgets every server's failure, as a new process would (tests). */
export const forgetServerFailures = (): void => lastFailures.clear();

/** `urls` in the order to try them at `now`: those that failed within SERVER_RETRY_MS last, each group in the order given. */
export const serverOrder = (urls: readonly string[], failures: ReadonlyMap<string, number>, now: number): string[] => {
  // The usual case, at every request of a warm function: no server failed.
  if (failures.size === 0) return [...urls];
  const failedLately = (url: string): boolean => {
    const at = failures.get(url);
    return at !== undefined && now - at < SERVER_RETRY_MS;
  };
  return [...urls.filter((url) => !failedLately(url)), ...urls.filter(failedLately)];
};

/**
 * A connection bound as `credentials` to the first server that answers, in the order of
 * `ldap.urls` but for those that failed lately (serverOrder). A server that cannot be reached
 * (refused, reset, connect timeout) or answers busy or unavailable is logged and the next one
 * tried; anything else ends there: a refused bind (a wrong password is wrong on every replica), a
 * TLS failure (DirectoryTlsError), the end of the time budget. When every server failed, the last
 * one's error.
 */
export const openDirectory = async (ldap: LdapConfig, credentials: Credentials, budget: Budget = UNLIMITED): Promise<DirectoryClient> => {
  let failure: unknown;
  for (const url of serverOrder(ldap.urls, lastFailures, Date.now())) {
    const client = new DirectoryClient(ldap, credentials, url, budget);
    try {
      await client.bind(credentials.dn, credentials.password);
      lastFailures.delete(url);
      return client;
    } catch (error) {
      await client.close();
      if (!isServerFailure(error)) throw error;
      // Only a server that could not be reached: one that answers busy or unavailable is up, and
      // remembering it would send this function's writes to another server for longer than needed
      // (with several providers, two admins' checks then run on different servers).
      if (isConnectionFailure(error)) lastFailures.set(url, Date.now());
      log('warn', 'LDAP server failed', { url, error: String(error) });
      failure = error;
    }
  }
  throw failure;
};

/**
 * Runs `work` on a fresh connection bound as `credentials` (the service account by default),
 * within `budget`, and always unbinds afterwards, whether the work succeeded or threw.
 */
export const withDirectory = async <T>(
  work: (client: Client) => Promise<T>,
  credentials?: Credentials,
  ldap: LdapConfig = config().ldap,
  budget: Budget = UNLIMITED,
): Promise<T> => {
  const client = await openDirectory(ldap, credentials ?? { dn: ldap.bindDN, password: ldap.bindPassword }, budget);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
};

/** An entry's attributes by lower-case name, every value a string. */
export type Attributes = ReadonlyMap<string, readonly string[]>;

/** ldapts' values as strings: its arrays are kept as they are when they hold strings only (the usual case). */
const asStrings = (value: Entry[string]): string[] => {
  if (typeof value === 'string') return [value];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.every((v) => typeof v === 'string') ? (list as string[]) : list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
};

/** Attribute names as the directory spells them, in lower case: a handful, seen thousands of times. */
const lower = remembered((name: string) => name.toLowerCase(), 1_000);

/**
 * Entries are read-only once ldapts hands them over, so each is normalised once, in one pass over
 * its attributes, the first time `value`/`values` ask for one of them (a scan of every attribute
 * per lookup was most of the time of a 20,000-user list).
 */
const normalised = new WeakMap<Entry, Attributes>();

/** All attributes of an entry in one pass, for a caller that reads each entry once (a list's mapping). */
export const readAttributes = (entry: Entry): Attributes => {
  const map = new Map<string, string[]>();
  for (const name of Object.keys(entry)) map.set(lower(name), asStrings(entry[name]!));
  return map;
};

/** All attributes of an entry, normalised once (see above). */
export const attributesOf = (entry: Entry): Attributes => {
  let attributes = normalised.get(entry);
  if (attributes === undefined) {
    attributes = readAttributes(entry);
    normalised.set(entry, attributes);
  }
  return attributes;
};

/** The values of an attribute named in lower case (a fresh array), from attributesOf. */
export const allOf = (attributes: Attributes, lowerCaseName: string): string[] => [...(attributes.get(lowerCaseName) ?? [])];

/** The first value of an attribute named in lower case, from attributesOf. */
export const firstOf = (attributes: Attributes, lowerCaseName: string): string | undefined => attributes.get(lowerCaseName)?.[0];

/** Attribute values of an entry, always as a (fresh) array of strings, looked up case-insensitively. */
export const values = (entry: Entry, attribute: string): string[] => [...(attributesOf(entry).get(lower(attribute)) ?? [])];

/** The first value of an attribute, or undefined. */
export const value = (entry: Entry, attribute: string): string | undefined => attributesOf(entry).get(lower(attribute))?.[0];

/** Reads one entry by DN, or undefined when it does not exist. */
export const readEntry = async (client: Client, dn: string, attributes: string[]): Promise<Entry | undefined> => {
  try {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes });
    return searchEntries[0];
  } catch (error) {
    if (error instanceof NoSuchObjectError) return undefined;
    throw error;
  }
};

/**
 * The most terms an OR filter of names should have. slapd tests every candidate against every term
 * of an OR, so the cost grows with the square of the terms: 20,000 names took it minutes.
 */
export const MAX_OR_TERMS = 64;

/** Searches one level below `base` (people, groups and hosts are flat). */
export const searchChildren = async (
  client: Client,
  base: string,
  filter: Filter | string,
  attributes: string[],
  options: Omit<SearchOptions, 'scope' | 'filter' | 'attributes'> = {},
): Promise<Entry[]> => {
  const { searchEntries } = await client.search(base, { scope: 'one', filter, attributes, ...options });
  return searchEntries;
};

/**
 * The DNs below `base` that match: one search, without a round trip per page of 500 (a fifth of
 * the time of 20,000 names), when the service account may read that many at once (the rootdn, or
 * `limits ... size=unlimited`); paged when its size limit says no.
 */
export const childDNs = async (client: Client, base: string, filter: Filter | string): Promise<string[]> => {
  const read = async (options: Omit<SearchOptions, 'scope' | 'filter' | 'attributes'>) =>
    (await searchChildren(client, base, filter, ['1.1'], options)).map((entry) => entry.dn);
  try {
    return await read({});
  } catch (error) {
    if (!(error instanceof SizeLimitExceededError)) throw error;
    return read({ paged: { pageSize: 500 } });
  }
};
