// The only place that opens LDAP connections: connect, bind, work, unbind in a `finally`, per
// invocation, within the invocation's time budget (lib/budget.ts). Also the small helpers that
// normalise ldapts' answers (string vs array values).
import {
  Client,
  NoSuchObjectError,
  ResultCodeError,
  type Change,
  type Control,
  type DN,
  type Entry,
  type Filter,
  type SaslMechanism,
  type SearchOptions,
  type SearchResult,
} from 'ldapts';
import { isAssertionFailed, withAssertion, type AssertionControl } from './assertion.js';
import { OutOfTimeError, UNLIMITED, type Budget } from './budget.js';
import { config, type LdapConfig } from './config.js';
import { normalizeDN } from './dn.js';
import { isDirectoryUnavailable } from './errors.js';
import { log } from './log.js';

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

/** Whether an operation that failed with `error` certainly did not change the directory. */
export const certainlyNotDone = (error: unknown): boolean =>
  error instanceof ConnectionLostError ||
  (error instanceof OutOfTimeError && !error.sent) ||
  !isConnectionFailure(error);

type Kind = 'read' | 'write';

/**
 * An ldapts client that keeps to the invocation's budget: no operation starts after Middy's abort
 * or on a lost connection; work operations end by `workEnd` (cut off, connection dropped, when
 * they would run longer), a write starts only when the slowest operation seen so far would still
 * fit; operations of the undo may use the time up to `end`.
 */
export class DirectoryClient extends Client {
  private bindCount = 0;
  private slowestMs = 0;
  private undoing = false;
  private spare: Promise<DirectoryClient> | undefined;
  private readonly preconditions = new Map<string, { control: AssertionControl; explain: () => Promise<Error | undefined> }>();
  private readonly onAbort = (): void => this.drop();

  constructor(
    private readonly ldap: LdapConfig,
    private readonly credentials: Credentials,
    readonly budget: Budget = UNLIMITED,
  ) {
    super({ url: ldap.url, connectTimeout: ldap.connectTimeoutMs, timeout: ldap.timeoutMs, strictDN: true });
    budget.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  override async bind(dn: DN | SaslMechanism | string, password?: string, controls?: Control | Control[]): Promise<void> {
    await this.run('read', () => super.bind(dn, password, controls));
    this.bindCount += 1;
  }

  override add(dn: DN | string, attributes: Parameters<Client['add']>[1], controls?: Control | Control[]): Promise<void> {
    return this.run('write', () => super.add(dn, attributes, controls));
  }

  override async modify(dn: DN | string, changes: Change | Change[], controls?: Control | Control[]): Promise<void> {
    const own = controls === undefined ? [] : [controls].flat();
    const precondition = this.preconditions.get(normalizeDN(dn.toString()));
    if (precondition === undefined) return this.run('write', () => super.modify(dn, changes, own));
    this.preconditions.delete(normalizeDN(dn.toString()));
    try {
      return await this.run('write', () => super.modify(dn, changes, withAssertion(own, precondition.control)));
    } catch (error) {
      if (isAssertionFailed(error)) throw (await precondition.explain()) ?? error;
      throw error;
    }
  }

  /**
   * Makes the next modify of `dn` on this connection assert `control` too. When that modify's
   * assertion fails, `explain` says whether it was this one (the error to throw instead) or the
   * modify's own (undefined).
   */
  precondition(dn: string, control: AssertionControl, explain: () => Promise<Error | undefined>): void {
    this.preconditions.set(normalizeDN(dn), { control, explain });
  }

  override del(dn: DN | string, controls?: Control | Control[]): Promise<void> {
    return this.run('write', () => super.del(dn, controls));
  }

  override modifyDN(dn: DN | string, newDN: DN | string, controls?: Control | Control[]): Promise<void> {
    return this.run('write', () => super.modifyDN(dn, newDN, controls));
  }

  /** Extended operations are counted as writes: the one used here is Password Modify. */
  override exop(oid: string, value?: Buffer | string, controls?: Control | Control[]): Promise<{ oid?: string; value?: string }> {
    return this.run('write', () => super.exop(oid, value, controls));
  }

  override compare(dn: DN | string, attribute: string, value: string, controls?: Control | Control[]): Promise<boolean> {
    return this.run('read', () => super.compare(dn, attribute, value, controls));
  }

  override search(base: DN | string, options?: SearchOptions, controls?: Control | Control[]): Promise<SearchResult> {
    return this.run('read', () => super.search(base, options, controls));
  }

  /**
   * The connection to undo a failed write on: this one when it still works and did not fail,
   * otherwise a fresh one, bound the same way. Either may use the time up to the budget's end.
   */
  async forUndo(cause: unknown): Promise<DirectoryClient> {
    if (this.isBound && !isConnectionFailure(cause)) {
      this.undoing = true;
      return this;
    }
    return this.fresh();
  }

  /** A second connection for the undo (opened once), closed with this one. */
  fresh(): Promise<DirectoryClient> {
    this.spare ??= (async () => {
      const spare = new DirectoryClient(this.ldap, this.credentials, { end: this.budget.end, workEnd: this.budget.end });
      spare.undoing = true;
      await spare.bind(this.credentials.dn, this.credentials.password);
      return spare;
    })();
    return this.spare;
  }

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
    try {
      return await this.within(left, operation);
    } finally {
      this.slowestMs = Math.max(this.slowestMs, Date.now() - started);
    }
  }

  /** Runs an operation for at most `ms` (ldapts' own timeout covers the longer ones). */
  private async within<T>(ms: number, operation: () => Promise<T>): Promise<T> {
    if (ms >= this.ldap.timeoutMs) return operation();
    let timer: NodeJS.Timeout | undefined;
    const cutOff = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.drop();
        reject(new OutOfTimeError('Directory operation cut off at the end of the time budget', true));
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
 * Runs `work` on a fresh connection bound as `credentials` (the service account by default),
 * within `budget`, and always unbinds afterwards, whether the work succeeded or threw.
 */
export const withDirectory = async <T>(
  work: (client: Client) => Promise<T>,
  credentials?: Credentials,
  ldap: LdapConfig = config().ldap,
  budget: Budget = UNLIMITED,
): Promise<T> => {
  const bindAs = credentials ?? { dn: ldap.bindDN, password: ldap.bindPassword };
  const client = new DirectoryClient(ldap, bindAs, budget);
  try {
    await client.bind(bindAs.dn, bindAs.password);
    return await work(client);
  } finally {
    await client.close();
  }
};

/** Attribute values of an entry, always as an array of strings, looked up case-insensitively. */
export const values = (entry: Entry, attribute: string): string[] => {
  const wanted = attribute.toLowerCase();
  for (const [name, value] of Object.entries(entry)) {
    if (name.toLowerCase() !== wanted) continue;
    const list = Array.isArray(value) ? value : [value];
    return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
  }
  return [];
};

/** The first value of an attribute, or undefined. */
export const value = (entry: Entry, attribute: string): string | undefined => values(entry, attribute)[0];

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
