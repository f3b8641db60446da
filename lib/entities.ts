// Reading one of Keyper's named entities (users, groups, hosts) by name; the entity modules say
// which attributes. Lists of them: lib/listing.ts. Also what a create answers when its entry
// vanished half-way, and what an update that would rename one answers.
import { NoSuchObjectError, type Client, type Entry } from 'ldapts';
import { entityDN } from './dn.js';
import { readEntry, value } from './directory.js';
import { badRequest, conflict, isApiError, notFound } from './errors.js';
import type { EntityKind } from './layout.js';

const LABELS: Record<EntityKind, string> = { user: 'User', group: 'Group', host: 'Host' };

/** The entry of a named entity, or a 404 naming it. */
export const readEntity = async (client: Client, kind: EntityKind, name: string, baseDN: string, attributes: string[]): Promise<Entry> => {
  const entry = await readEntry(client, entityDN(kind, name, baseDN), attributes);
  if (entry === undefined) throw notFound(`${LABELS[kind]} ${name} not found`);
  return entry;
};

/** 400 when an update names another cn: an entity is never renamed (its DN is its name). */
export const assertNameUnchanged = (cn: string | undefined, name: string): void => {
  if (cn !== undefined && cn !== name) throw badRequest('cn cannot be changed', { errors: { cn: 'cannot be changed' } });
};

/**
 * Reads back an entity this request created; a 409 when it is gone or is another one (deleted and
 * created again by other requests meanwhile), which undoes the creation.
 */
export const readCreated = async (client: Client, kind: EntityKind, name: string, baseDN: string, attributes: string[], uuid: string | undefined): Promise<Entry> => {
  const entry = await readEntity(client, kind, name, baseDN, [...attributes, 'entryUUID']);
  if (uuid !== undefined && value(entry, 'entryUUID') !== uuid) throw deletedMeanwhile(new NoSuchObjectError(), `${LABELS[kind]} ${name}`);
  return entry;
};

/**
 * What a create answers when its own entry vanished half-way (deleted by a request at the same
 * time): 409, like a create that finds the name taken, never the 404 of a missing entry.
 */
export const deletedMeanwhile = (error: unknown, label: string): unknown =>
  error instanceof NoSuchObjectError || (isApiError(error) && error.statusCode === 404)
    ? conflict(`${label} was deleted while it was being created; try again`)
    : error;
