// Ending sessions: a logout (the caller's session, or every one of theirs) and the end of a user's
// other sessions when their password changes, written as lib/sessions.ts's values on the user's
// entry, so every Lambda instance refuses the ended sessions' tokens from the next request on.
import { Attribute, Change, NoSuchAttributeError, type Client } from 'ldapts';
import type { Caller } from './auth.js';
import { readEntry, values } from './directory.js';
import { raiseGeneration, revokeOne, SESSION_ATTRIBUTES, type SessionWrite } from './sessions.js';
import { addValue, deleteValue, inJournal, UNCHANGED, type Journal } from './writes.js';

const labeledURI = (values: string[]): Attribute => new Attribute({ type: 'labeledURI', values });

/**
 * Reads the user's session values and writes what `plan` makes of them, as journal steps (in the
 * caller's journal, or one of their own): first the one new value (what must happen), then, in a
 * separate modify, the pruning of the values it made redundant. A value already there is as good as
 * written; a prune that loses to a concurrent prune of the same values (NoSuchAttribute) is
 * ignored (the next write prunes what is left); any other failure undoes both, like any step's.
 */
const writeSessions = (target: Client | Journal, dn: string, plan: (uris: string[]) => SessionWrite): Promise<void> =>
  inJournal(target, async (journal) => {
    const entry = await readEntry(journal.client, dn, SESSION_ATTRIBUTES);
    const { add, prune } = plan(values(entry ?? { dn }, 'labeledURI'));
    await journal.write(`session state of ${dn}`, (c) => addValue(c, dn, 'labeledURI', add), (c) => deleteValue(c, dn, 'labeledURI', add));
    if (prune.length === 0) return;
    await journal.write(
      `prune session values of ${dn}`,
      async (c) => {
        try {
          await c.modify(dn, [new Change({ operation: 'delete', modification: labeledURI(prune) })]);
          return undefined;
        } catch (error) {
          if (error instanceof NoSuchAttributeError) return UNCHANGED;
          throw error;
        }
      },
      async (c) => {
        for (const uri of prune) await addValue(c, dn, 'labeledURI', uri);
      },
    );
  });

/** Records the caller's session as revoked (or, past the cap, ends all of the user's sessions). */
export const revokeSession = async (client: Client, caller: Caller, refreshTtlSeconds: number): Promise<void> => {
  const now = Math.floor(Date.now() / 1000);
  await writeSessions(client, caller.dn, (uris) => revokeOne(uris, { sid: caller.claims.sid, until: now + refreshTtlSeconds }, now));
};

/**
 * Ends every session of the user at `dn` but the session `spared` (the caller's own, when they
 * changed their own password). Call it after the change that is the reason (e.g. the new password
 * is set), so that no login that read the entry before that change survives it (and, for a new
 * password, also before it: see updateUser).
 */
export const endSessions = async (target: Client | Journal, dn: string, spared?: string): Promise<void> => {
  await writeSessions(target, dn, (uris) => raiseGeneration(uris, spared));
};
