// The only place that opens LDAP connections: connect, bind, work, unbind in a `finally`, per
// invocation. Also the small helpers that normalise ldapts' answers (string vs array values).
import { Client, NoSuchObjectError, SizeLimitExceededError, type Entry, type Filter, type SearchOptions } from 'ldapts';
import { config, type LdapConfig } from './config.js';
import { log } from './log.js';

export interface Credentials {
  readonly dn: string;
  readonly password: string;
}

const newClient = (ldap: LdapConfig): Client =>
  new Client({ url: ldap.url, connectTimeout: ldap.connectTimeoutMs, timeout: ldap.timeoutMs, strictDN: true });

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
 * and always unbinds afterwards, whether the work succeeded or threw.
 */
export const withDirectory = async <T>(
  work: (client: Client) => Promise<T>,
  credentials?: Credentials,
  ldap: LdapConfig = config().ldap,
): Promise<T> => {
  const client = newClient(ldap);
  try {
    const { dn, password } = credentials ?? { dn: ldap.bindDN, password: ldap.bindPassword };
    await client.bind(dn, password);
    return await work(client);
  } finally {
    await unbindQuietly(client);
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
const lowerNames = new Map<string, string>();
const lower = (name: string): string => {
  let lowered = lowerNames.get(name);
  if (lowered === undefined) {
    lowered = name.toLowerCase();
    if (lowerNames.size < 1_000) lowerNames.set(name, lowered);
  }
  return lowered;
};

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
