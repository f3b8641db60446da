// The only place that opens LDAP connections: connect, bind, work, unbind in a `finally`, per
// invocation. Also the small helpers that normalise ldapts' answers (string vs array values).
import { Client, NoSuchObjectError, type Entry, type Filter, type SearchOptions } from 'ldapts';
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
