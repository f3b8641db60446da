// Reading Keyper's named entities (users, groups, hosts): one by name, or all of a kind. The
// entity modules say which attributes and object class; this says how.
import { EqualityFilter, type Client, type Entry } from 'ldapts';
import { containerDN, entityDN, type EntityKind } from './dn.js';
import { readEntry, searchChildren, value } from './directory.js';
import { notFound } from './errors.js';

const LABELS: Record<EntityKind, string> = { user: 'User', group: 'Group', host: 'Host' };

/** The entry of a named entity, or a 404 naming it. */
export const readEntity = async (client: Client, kind: EntityKind, name: string, baseDN: string, attributes: string[]): Promise<Entry> => {
  const entry = await readEntry(client, entityDN(kind, name, baseDN), attributes);
  if (entry === undefined) throw notFound(`${LABELS[kind]} ${name} not found`);
  return entry;
};

/** Every entity of a kind (entries of `objectClass` in its container), sorted by name. */
export const listEntities = async (client: Client, kind: EntityKind, objectClass: string, baseDN: string, attributes: string[]): Promise<Entry[]> => {
  const filter = new EqualityFilter({ attribute: 'objectClass', value: objectClass });
  const entries = await searchChildren(client, containerDN(kind, baseDN), filter, attributes, { paged: true });
  const name = (entry: Entry): string => value(entry, 'cn') ?? '';
  return entries.sort((a, b) => name(a).localeCompare(name(b)));
};
