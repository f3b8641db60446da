// Building blocks of directory writes that the entity modules share: whole-attribute replacements,
// and the journal that makes a write of several LDAP operations all-or-nothing: each step records
// how to undo it, and when a later step fails (refused, connection lost, out of time) the steps
// done are undone in reverse order, over a fresh connection when the first one failed.
import { AlreadyExistsError, Attribute, Change, EqualityFilter, NoSuchAttributeError, NoSuchObjectError, TypeOrValueExistsError, type Client, type Entry } from 'ldapts';
import { assertion, holdsAll, isAssertionFailed } from './assertion.js';
import { certainlyNotDone, DirectoryClient, isConnectionFailure, readEntry, value, values } from './directory.js';
import { log } from './log.js';

/** A modification that sets an attribute to exactly `vals`; an empty list removes the attribute. */
export const replace = (type: string, vals: string[]): Change =>
  new Change({ operation: 'replace', modification: new Attribute({ type, values: vals }) });

/** Runs a best-effort compensation outside a journal; its failure is logged, never hiding the first error. */
export const undo = async (what: string, step: () => Promise<unknown>): Promise<void> => {
  try {
    await step();
  } catch (error) {
    log('error', 'undo failed', { what, error: String(error) });
  }
};

/** What a step returns when it found its change already made (or moot): there is nothing to undo. */
export const UNCHANGED = Symbol('unchanged');

/**
 * The modifications that put back what `changes` replace, from the entry as read before them.
 * Only for whole-attribute replacements: value-level changes have their own undo.
 */
export const restoring = (before: Entry, changes: Change[]): Change[] =>
  changes.map((change) => {
    if (change.operation !== 'replace') throw new Error(`restoring() takes replacements only, not ${change.operation}`);
    const type = change.modification.type;
    return replace(type, values(before, type));
  });

const valueChange = (operation: 'add' | 'delete', type: string, value: string): Change =>
  new Change({ operation, modification: new Attribute({ type, values: [value] }) });

/** Adds one value; UNCHANGED when it is there already. */
export const addValue = async (client: Client, dn: string, type: string, value: string): Promise<typeof UNCHANGED | undefined> => {
  try {
    await client.modify(dn, [valueChange('add', type, value)]);
    return undefined;
  } catch (error) {
    if (error instanceof TypeOrValueExistsError) return UNCHANGED;
    throw error;
  }
};

/** Deletes one value; UNCHANGED when it is gone already. */
export const deleteValue = async (client: Client, dn: string, type: string, value: string): Promise<typeof UNCHANGED | undefined> => {
  try {
    await client.modify(dn, [valueChange('delete', type, value)]);
    return undefined;
  } catch (error) {
    if (error instanceof NoSuchAttributeError) return UNCHANGED;
    throw error;
  }
};

/** One directory operation (or one retried as a whole), given the connection to run on. */
export type Step = (client: Client) => Promise<unknown>;

/**
 * The connection to undo a failed write on: the work's own when it still works and did not fail,
 * otherwise a fresh one, bound the same way. Either may use the time up to the budget's end.
 */
const undoClient = (client: DirectoryClient, cause: unknown): Promise<DirectoryClient> => {
  if (client.isBound && !isConnectionFailure(cause)) {
    client.undoing = true;
    return Promise.resolve(client);
  }
  return freshClient(client);
};

/** A second connection for the undo (opened once per request), closed with the first. */
const freshClient = (client: DirectoryClient): Promise<DirectoryClient> =>
  (client.spare ??= (async () => {
    const spare = new DirectoryClient(client.ldap, client.credentials, client.url, { end: client.budget.end, workEnd: client.budget.end });
    spare.undoing = true;
    await spare.bind(client.credentials.dn, client.credentials.password);
    return spare;
  })());

interface Recorded {
  what: string;
  undo: Step;
}

export interface WriteOptions {
  /**
   * For a last step (nothing after it to undo): when its outcome is unknown because the connection
   * failed after it was sent, asks the directory whether it happened; if so the write succeeded.
   */
  happened?: (client: Client) => Promise<boolean>;
}

/**
 * The writes of one request so far and how to undo each. The undo of a step is recorded before
 * the step runs; it is kept when the step succeeded or when its outcome is unknown (the connection
 * failed or time ran out after the step was sent), and dropped when the directory certainly did
 * not apply it. So every undo must be harmless when its step did not happen.
 */
export class Journal {
  private readonly recorded: Recorded[] = [];
  private readonly finals: Recorded[] = [];

  constructor(readonly client: Client) {}

  async write(what: string, step: Step, undo?: Step, options: WriteOptions = {}): Promise<void> {
    const record = undo === undefined ? undefined : { what, undo };
    if (record !== undefined) this.recorded.push(record);
    try {
      if ((await step(this.client)) === UNCHANGED) this.forget(record);
    } catch (error) {
      if (certainlyNotDone(error)) {
        this.forget(record);
        throw error;
      }
      if (options.happened !== undefined && (await this.ask(options.happened, error))) return;
      throw error;
    }
  }

  /**
   * Records a write that is never undone (a revocation: failing, it errs on the safe side), to run
   * once every other step of the work has succeeded (allOrNothing). It is tried a second time when
   * it fails, over a fresh connection when the first one is gone, so a lost connection does not
   * leave it out; failing twice, the error undoes the other steps.
   */
  atEnd(what: string, step: Step): void {
    this.finals.push({ what, undo: step });
  }

  /** Runs the writes recorded by atEnd, in order. */
  async finish(): Promise<void> {
    for (const { what, undo: step } of this.finals.splice(0)) {
      try {
        await step(this.client);
      } catch (error) {
        log('warn', 'a write that is never undone failed: trying again', { what, error: String(error) });
        await step(await this.undoClient(error));
      }
    }
  }

  /** Undoes the recorded steps, newest first; failures are logged, never thrown over `cause`. */
  async rollback(cause: unknown): Promise<void> {
    const steps = this.recorded.splice(0).reverse();
    if (steps.length === 0) return;
    let client: Client;
    try {
      client = await this.undoClient(cause);
    } catch (error) {
      log('error', 'undo impossible: no connection', { steps: steps.map((s) => s.what), error: String(error) });
      return;
    }
    for (const { what, undo } of steps) {
      try {
        await undo(client);
      } catch (error) {
        // The work's connection may fail during the undo too: go on over a fresh one.
        if (client === this.client && client instanceof DirectoryClient && isConnectionFailure(error)) {
          try {
            client = await freshClient(client);
            await undo(client);
            continue;
          } catch (retryError) {
            log('error', 'undo failed', { what, error: String(retryError) });
            continue;
          }
        }
        log('error', 'undo failed', { what, error: String(error) });
      }
    }
    log('info', 'undone', { steps: steps.map((s) => s.what), cause: String(cause) });
  }

  private forget(record: Recorded | undefined): void {
    const index = record === undefined ? -1 : this.recorded.indexOf(record);
    if (index >= 0) this.recorded.splice(index, 1);
  }

  private undoClient(cause: unknown): Promise<Client> {
    return this.client instanceof DirectoryClient ? undoClient(this.client, cause) : Promise.resolve(this.client);
  }

  private async ask(happened: (client: Client) => Promise<boolean>, cause: unknown): Promise<boolean> {
    try {
      return await happened(await this.undoClient(cause));
    } catch (error) {
      log('warn', 'could not tell whether a write happened', { error: String(error) });
      return false;
    }
  }
}

/**
 * Runs a write of several steps, then the writes recorded by atEnd: when one throws, the steps
 * done are undone and the error is rethrown, so the directory is as it was (or, after an unknown
 * last step that did happen, complete).
 */
export const allOrNothing = async <T>(client: Client, work: (journal: Journal) => Promise<T>): Promise<T> => {
  const journal = new Journal(client);
  try {
    const result = await work(journal);
    await journal.finish();
    return result;
  } catch (error) {
    await journal.rollback(error);
    throw error;
  }
};

/** Attributes slapd cannot match as written: pwdAttribute holds an OID, written by its name. */
const UNMATCHABLE = new Set(['pwdattribute']);

const identifying = (attributes: Record<string, string | string[]>): Record<string, string | string[]> =>
  Object.fromEntries(Object.entries(attributes).filter(([name]) => !UNMATCHABLE.has(name.toLowerCase())));

/** Adds values one by one as journal steps (one there already is no change), each undone alone. */
export const addValues = async (journal: Journal, dn: string, type: string, vals: string[]): Promise<void> => {
  for (const v of vals) await journal.write(`add ${type} ${v} to ${dn}`, (c) => addValue(c, dn, type, v), (c) => deleteValue(c, dn, type, v));
};

/**
 * Deletes values one by one as journal steps (one gone already is no change), each undone alone:
 * the values nobody asked to change are never written, so concurrent changes to them are kept.
 */
export const deleteValues = async (journal: Journal, dn: string, type: string, vals: string[]): Promise<void> => {
  for (const v of vals) await journal.write(`delete ${type} ${v} from ${dn}`, (c) => deleteValue(c, dn, type, v), (c) => addValue(c, dn, type, v));
};

/** The values of `current` that `wanted` does not hold, ignoring case (as the directory compares names). */
export const droppedIgnoringCase = (current: string[], wanted: string[]): string[] => {
  const kept = new Set(wanted.map((v) => v.toLowerCase()));
  return current.filter((v) => !kept.has(v.toLowerCase()));
};

/** Values of `wanted` that `current` holds spelled otherwise (the directory compares ignoring case): [held, wanted]. */
export const respellings = (current: string[], wanted: string[]): [string, string][] =>
  wanted.flatMap((w): [string, string][] => {
    if (current.includes(w)) return [];
    const held = current.find((c) => c.toLowerCase() === w.toLowerCase());
    return held === undefined ? [] : [[held, w]];
  });

/** Rewrites values in a new spelling, each in one modify (journal steps, undone alone). */
export const respell = async (journal: Journal, dn: string, type: string, pairs: [string, string][]): Promise<void> => {
  const swap = (from: string, to: string): Change[] => [valueChange('delete', type, from), valueChange('add', type, to)];
  for (const [held, wanted] of pairs) {
    await journal.write(`respell ${type} ${held} of ${dn}`, (c) => c.modify(dn, swap(held, wanted)), (c) => c.modify(dn, swap(wanted, held)));
  }
};

/** Runs `work` in the caller's journal when given one, else as an all-or-nothing write of its own. */
export const inJournal = <T>(target: Client | Journal, work: (journal: Journal) => Promise<T>): Promise<T> =>
  target instanceof Journal ? work(target) : allOrNothing(target, work);

/**
 * Adds an entry as a journal step; answers its entryUUID (undefined when it could not be read).
 * Its undo deletes the entry only while it is the one added: the same entryUUID, or, when that is
 * unknown (the connection failed), every value this add wrote. After a lost connection the add may
 * not have happened, and an entry of that name may then be someone else's.
 */
export const addEntry = async (journal: Journal, dn: string, objectClass: string, attributes: Record<string, string | string[]>): Promise<string | undefined> => {
  let uuid: string | undefined;
  await journal.write(
    `add ${dn}`,
    async (client) => {
      await client.add(dn, attributes);
      // The add happened, whatever this read does: without the entryUUID the undo goes by the values.
      uuid = await readEntry(client, dn, ['entryUUID']).then(
        (entry) => value(entry ?? { dn }, 'entryUUID'),
        () => undefined,
      );
    },
    async (client) => {
      const ours = uuid === undefined ? holdsAll(identifying(attributes)) : new EqualityFilter({ attribute: 'entryUUID', value: uuid });
      try {
        await client.del(dn, assertion(objectClass, ours));
      } catch (error) {
        if (error instanceof NoSuchObjectError) return;
        if (isAssertionFailed(error)) {
          log('warn', 'not undoing an add: the entry is not the one added', { dn });
          return;
        }
        throw error;
      }
    },
  );
  return uuid;
};


/** The user attributes of an entry as read, ready to add it again (ldapts lists '*' itself, empty). */
const addableAttributes = (entry: Entry): Record<string, string[]> =>
  Object.fromEntries(
    Object.keys(entry)
      .filter((name) => name !== 'dn')
      .map((name) => [name, values(entry, name)] as const)
      .filter(([, vals]) => vals.length > 0),
  );

/**
 * Deletes an entry (read with all its user attributes) as a journal step; one gone already is
 * UNCHANGED. The undo adds it again as it was read: a new entry, with the same attributes.
 */
export const deleteEntry = (journal: Journal, entry: Entry): Promise<void> =>
  journal.write(
    `delete ${entry.dn}`,
    async (client) => {
      try {
        await client.del(entry.dn);
        return undefined;
      } catch (error) {
        if (error instanceof NoSuchObjectError) return UNCHANGED;
        throw error;
      }
    },
    async (client) => {
      try {
        await client.add(entry.dn, addableAttributes(entry));
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
      }
    },
  );

/**
 * Deletes an entry as the last step of a write (it has no undo): when the connection fails after
 * the delete was sent, a fresh one tells whether it happened, and if so the write succeeded.
 */
export const deleteLast = (journal: Journal, dn: string): Promise<void> =>
  journal.write(
    `delete ${dn}`,
    async (client) => {
      try {
        await client.del(dn);
        return undefined;
      } catch (error) {
        // Deleted by a request at the same time: as good as done.
        if (error instanceof NoSuchObjectError) return UNCHANGED;
        throw error;
      }
    },
    undefined,
    { happened: async (client) => (await readEntry(client, dn, ['1.1'])) === undefined },
  );
