// Reading one of Keyper's named entities (users, groups, hosts) by name; the entity modules say
// which attributes. Lists of them: lib/listing.ts.
import type { Client, Entry } from 'ldapts';
import { entityDN, type EntityKind } from './dn.js';
import { readEntry } from './directory.js';
import { notFound } from './errors.js';

const LABELS: Record<EntityKind, string> = { user: 'User', group: 'Group', host: 'Host' };

/** The entry of a named entity, or a 404 naming it. */
export const readEntity = async (client: Client, kind: EntityKind, name: string, baseDN: string, attributes: string[]): Promise<Entry> => {
  const entry = await readEntry(client, entityDN(kind, name, baseDN), attributes);
  if (entry === undefined) throw notFound(`${LABELS[kind]} ${name} not found`);
  return entry;
};
