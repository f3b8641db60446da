// Lists of users, groups and hosts: the whole list as one JSON array (what Keyper's console reads),
// or a page at a time (?limit=, ?cursor=, ?q=), the next page announced in a Link header.
//
// Order and cursor. Entries are ordered by name (their RDN value) as the directory orders cn with
// caseIgnoreOrderingMatch, and a cursor is the last name a page ended with: the next page is the
// names after it. Such a cursor means the same thing on any connection and after any change: an
// entry that exists through a whole walk is on exactly one page, whatever is added or removed
// meanwhile (an LDAP paged-results cookie would die with the invocation's connection).
//
// How a page is found. Where the directory offers server-side sorting and virtual list views
// (OpenLDAP's sssvlv overlay; seen in the root DSE's supportedControl, read once per cold start),
// one search returns the page. Elsewhere (Keyper's directory has neither) two searches do: the
// names after the cursor (DNs only: `(!(cn:caseIgnoreOrderingMatch:=<cursor>))`, since the core
// schema gives cn no ORDERING rule and `(cn>=x)` matches nothing), sorted here, then the page's
// entries by name.
import {
  AndFilter,
  BerWriter,
  Control,
  EqualityFilter,
  ExtensibleFilter,
  NotFilter,
  OrFilter,
  ServerSideSortingRequestControl,
  SubstringFilter,
  type Client,
  type Entry,
  type Filter,
} from 'ldapts';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { childDNs, MAX_OR_TERMS } from './directory.js';
import { acceptedEncoding, compressParts, encodedResult, maxBodyBytes, responseTooLarge } from './encoding.js';
import { badRequest } from './errors.js';
import { parseInput, present } from './input.js';
import { containerDN, type EntityKind, OBJECT_CLASSES } from './layout.js';
import { log } from './log.js';
import * as z from './zod.js';

/** What a list needs to know about an entity kind. */
export interface ListSpec {
  /** Its container and structural object class come from lib/layout.ts. */
  kind: EntityKind;
  attributes: string[];
  /** Attributes whose value `?q=` matches by prefix. */
  searchable: string[];
  toJson: (entry: Entry) => unknown;
}

export const MAX_LIMIT = 1000;
/** A cursor without a limit pages by this many. */
const DEFAULT_LIMIT = 100;
const MAX_QUERY_LENGTH = 100;
const MAX_NAME_LENGTH = 256;
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}\u2028\u2029]*$/u;
/**
 * Entries per LDAP page while reading a whole list: bounds what is held before it is mapped
 * (250 rather than 500 lowered the peak memory of a 20,000-user list by about 10 MB).
 */
const READ_PAGE_SIZE = 250;

// ---- names and their order ----

/**
 * The key names are ordered and compared by: OpenLDAP's caseIgnoreOrderingMatch normalises by
 * removing leading and trailing spaces, collapsing inner runs of spaces and folding case to lower,
 * then compares bytes. For names of ASCII characters (every name this API creates) this key orders
 * exactly as the directory does; names with other characters may order differently in rare cases
 * (case folding tables differ; UTF-16 and UTF-8 order differ above U+FFFF).
 */
export const nameKey = (name: string): string => name.trim().replace(/ {2,}/g, ' ').toLowerCase();

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** RFC 4514 escapes (`\,`, `\2C`, UTF-8 bytes as `\C3\A9`) undone. */
const unescapeValue = (raw: string): string => {
  if (!raw.includes('\\')) return raw;
  const parts: Buffer[] = [];
  for (const [, hex, char, text] of raw.matchAll(/\\([0-9a-fA-F]{2})|\\([^])|([^\\]+)/g)) {
    parts.push(hex !== undefined ? Buffer.from([parseInt(hex, 16)]) : Buffer.from(char ?? text ?? '', 'utf8'));
  }
  return Buffer.concat(parts).toString('utf8');
};

/** The value of a DN's first RDN: an entity's name (`cn=<name>,ou=...`). */
export const rdnValue = (dn: string): string => {
  const start = dn.indexOf('=') + 1;
  let end = start;
  while (end < dn.length && dn[end] !== ',' && dn[end] !== '+') end += dn[end] === '\\' ? 2 : 1;
  return unescapeValue(dn.slice(start, Math.min(end, dn.length)));
};

// ---- the request: ?limit=, ?cursor=, ?q= ----

export interface ListQuery {
  /** Present: a page of this many; absent: the whole list. */
  limit?: number;
  /** The name the previous page ended with. */
  after?: string;
  q?: string;
}

/** A cursor: the kind and the last name of a page, as base64url JSON. Opaque to clients. */
export const encodeCursor = (kind: EntityKind, after: string): string => Buffer.from(JSON.stringify({ k: kind, after })).toString('base64url');

/**
 * The name a cursor continues after; 400 unless it is a cursor of this kind of list. Not signed:
 * any name is a valid place to start a walk, and it reaches the directory only inside a filter
 * object (escaped), so a forged cursor can only ask for what an admin may list anyway.
 */
export const decodeCursor = (kind: EntityKind, cursor: string): string => {
  const invalid = () => badRequest('Invalid input: cursor', { errors: { cursor: 'is not a cursor of this list: use the Link header of the previous page' } });
  if (cursor.length > 2 * MAX_NAME_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { k, after } = (parsed ?? {}) as { k?: unknown; after?: unknown };
  if (k !== kind || typeof after !== 'string' || after === '' || after.length > MAX_NAME_LENGTH || !NO_CONTROL_CHARACTERS.test(after)) throw invalid();
  return after;
};

/** `?limit=`, `?cursor=` and `?q=` of a list; other query parameters are ignored. */
export const ListQuerySchema = /* @__PURE__ */ z.object({
  limit: z.optional(
    z.pipe(
      z.string().check(z.regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_LIMIT}`)),
      z.pipe(z.transform(Number), z.number().check(z.gte(1, `must be a whole number from 1 to ${MAX_LIMIT}`), z.lte(MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`))),
    ),
  ),
  /** Opaque: the Link header of the previous page gives it. */
  cursor: z.optional(z.string().check(z.maxLength(2 * MAX_NAME_LENGTH, 'is not a cursor of this list'), z.regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor of this list'))),
  /** A prefix of the name (users: or of the display name or mail), any case. */
  q: z.optional(z.string().check(z.maxLength(MAX_QUERY_LENGTH, `must be at most ${MAX_QUERY_LENGTH} characters`), z.regex(NO_CONTROL_CHARACTERS, 'must not contain control characters'))),
});

/** The list parameters of a request; 400 naming the parameter that is wrong. */
export const parseListQuery = (event: APIGatewayProxyEventV2, kind: EntityKind): ListQuery => {
  const params = parseInput(ListQuerySchema, event.queryStringParameters ?? {});
  return {
    ...present('limit', params.limit ?? (params.cursor === undefined ? undefined : DEFAULT_LIMIT)),
    ...present('after', params.cursor === undefined ? undefined : decodeCursor(kind, params.cursor)),
    ...present('q', params.q === '' ? undefined : params.q),
  };
};

// ---- filters and controls ----

const matchingFilter = (spec: ListSpec, q: string | undefined): Filter => {
  const ofKind = new EqualityFilter({ attribute: 'objectClass', value: OBJECT_CLASSES[spec.kind] });
  if (q === undefined) return ofKind;
  const prefix = new OrFilter({ filters: spec.searchable.map((attribute) => new SubstringFilter({ attribute, initial: q })) });
  return new AndFilter({ filters: [ofKind, prefix] });
};

/** Names not ordered before `after`: no cn value orders before it (cn has one value here). */
const notBefore = (after: string): Filter =>
  new NotFilter({ filter: new ExtensibleFilter({ matchType: 'cn', rule: 'caseIgnoreOrderingMatch', value: after }) });

const SORT_CONTROL = '1.2.840.113556.1.4.473';
const VLV_CONTROL = '2.16.840.1.113730.3.4.9';

const byName = (): Control =>
  new ServerSideSortingRequestControl({ value: { attributeType: 'cn', orderingRule: 'caseIgnoreOrderingMatch' }, critical: true });

/** RFC draft-ietf-ldapext-ldapv3-vlv: `after` entries following the target (the first entry, or the first not before a name). */
export class VirtualListViewControl extends Control {
  constructor(
    private readonly after: number,
    private readonly target: string | undefined,
  ) {
    super(VLV_CONTROL, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(0); // beforeCount
    value.writeInt(this.after);
    if (this.target === undefined) {
      value.startSequence(0xa0); // byOffset: the first entry, content count unknown
      value.writeInt(1);
      value.writeInt(0);
      value.endSequence();
    } else {
      value.writeString(this.target, 0x81); // greaterThanOrEqual
    }
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** Whether a directory offers sorted virtual list views, read from its root DSE once per process. */
const sortedViewSupport = new Map<string, Promise<boolean>>();

export const hasSortedViews = (client: Client, directory: string): Promise<boolean> => {
  let support = sortedViewSupport.get(directory);
  if (support === undefined) {
    support = client
      .search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['supportedControl'] })
      .then(({ searchEntries }) => {
        const controls = new Set([searchEntries[0]?.supportedControl ?? []].flat().map(String));
        return controls.has(SORT_CONTROL) && controls.has(VLV_CONTROL);
      })
      // A root DSE the service may not read: the fallback works everywhere.
      .catch(() => false);
    sortedViewSupport.set(directory, support);
  }
  return support;
};

// ---- reading ----

interface Item {
  key: string;
  json: string;
}

export interface Page {
  /** JSON texts of the entries, in order. */
  items: string[];
  /** The cursor of the next page, when there is one. */
  next?: string;
}

/** A page through the directory's sorted virtual list view: one search. */
const viewPage = async (client: Client, spec: ListSpec, baseDN: string, query: ListQuery & { limit: number }): Promise<Page> => {
  // One more than the page: the entry at the cursor itself (if it still exists) and one to know a next page exists.
  const after = query.after === undefined ? query.limit : query.limit + 1;
  const { searchEntries } = await client.search(
    containerDN(spec.kind, baseDN),
    { scope: 'one', filter: matchingFilter(spec, query.q), attributes: spec.attributes },
    [byName(), new VirtualListViewControl(after, query.after)],
  );
  const afterKey = query.after === undefined ? undefined : nameKey(query.after);
  const entries = searchEntries.filter((entry) => afterKey === undefined || nameKey(rdnValue(entry.dn)) > afterKey);
  const page = entries.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((entry) => JSON.stringify(spec.toJson(entry))),
    ...(entries.length > query.limit && last !== undefined ? { next: encodeCursor(spec.kind, rdnValue(last.dn)) } : {}),
  };
};

/** A page without server-side sorting: the names after the cursor, sorted here, then the page's entries. */
const scanPage = async (client: Client, spec: ListSpec, baseDN: string, query: ListQuery & { limit: number }): Promise<Page> => {
  const container = containerDN(spec.kind, baseDN);
  const matching = matchingFilter(spec, query.q);
  const afterKey = query.after === undefined ? undefined : nameKey(query.after);
  const filter = query.after === undefined ? matching : new AndFilter({ filters: [matching, notBefore(query.after)] });
  const names = (await childDNs(client, container, filter))
    .map(rdnValue)
    .map((name) => ({ name, key: nameKey(name) }))
    .filter(({ key }) => afterKey === undefined || key > afterKey)
    .sort((a, b) => compareKeys(a.key, b.key));
  const page = names.slice(0, query.limit);
  const last = page.at(-1);
  if (last === undefined) return { items: [] };
  // The page's entries by name, a few dozen names per search (MAX_OR_TERMS), the searches at once.
  const chunks = Array.from({ length: Math.ceil(page.length / MAX_OR_TERMS) }, (_, i) => page.slice(i * MAX_OR_TERMS, (i + 1) * MAX_OR_TERMS));
  const results = await Promise.all(
    chunks.map((chunk) => {
      const named = new OrFilter({ filters: chunk.map(({ name }) => new EqualityFilter({ attribute: 'cn', value: name })) });
      // Paged (one page: no extra round trip) so that an account's size limit does not apply.
      return client.search(container, { scope: 'one', filter: new AndFilter({ filters: [matching, named] }), attributes: spec.attributes, paged: { pageSize: MAX_OR_TERMS } });
    }),
  );
  const byKey = new Map<string, Entry>();
  for (const entry of results.flatMap((result) => result.searchEntries)) byKey.set(nameKey(rdnValue(entry.dn)), entry);
  // An entry deleted between the two searches is simply not on the page.
  const items = page.flatMap(({ key }) => {
    const entry = byKey.get(key);
    return entry === undefined ? [] : [JSON.stringify(spec.toJson(entry))];
  });
  return { items, ...(names.length > query.limit ? { next: encodeCursor(spec.kind, last.name) } : {}) };
};

let viewFailureLogged = false;

/** One page of a list, by the directory's sorted views where it has them. */
export const readPage = async (client: Client, spec: ListSpec, baseDN: string, directory: string, query: ListQuery & { limit: number }): Promise<Page> => {
  if (await hasSortedViews(client, directory)) {
    try {
      return await viewPage(client, spec, baseDN, query);
    } catch (error) {
      // A refused view (limits of the overlay, an empty result on some servers): the scan is always right.
      if (!viewFailureLogged) log('warn', 'sorted list view refused; paging without it', { error: String(error) });
      viewFailureLogged = true;
    }
  }
  return scanPage(client, spec, baseDN, query);
};

/**
 * Every matching entry as JSON texts in name order, read in LDAP pages and mapped page by page so
 * that only the JSON is kept; 400 as soon as the texts exceed `maxBytes` (a body that could not
 * be sent even compressed is never built). Characters are counted: never more than UTF-8 bytes.
 */
export const readAll = async (client: Client, spec: ListSpec, baseDN: string, q: string | undefined, maxBytes: number): Promise<string[]> => {
  const items: Item[] = [];
  let chars = 2;
  const pages = client.searchPaginated(containerDN(spec.kind, baseDN), {
    scope: 'one',
    filter: matchingFilter(spec, q),
    attributes: spec.attributes,
    paged: { pageSize: READ_PAGE_SIZE },
  });
  for await (const { searchEntries } of pages) {
    for (const entry of searchEntries) {
      const json = JSON.stringify(spec.toJson(entry));
      chars += json.length + 1;
      if (chars > maxBytes) throw responseTooLarge();
      items.push({ key: nameKey(rdnValue(entry.dn)), json });
    }
  }
  return items.sort((a, b) => compareKeys(a.key, b.key)).map(({ json }) => json);
};

// ---- the response ----

/** `<path?limit=&q=&cursor=>; rel="next"`, relative to the request's own path. */
const nextLink = (event: APIGatewayProxyEventV2, query: ListQuery & { limit: number }, cursor: string): string => {
  const params = new URLSearchParams({ limit: String(query.limit), ...(query.q === undefined ? {} : { q: query.q }), cursor });
  return `<${event.rawPath}?${params.toString()}>; rel="next"`;
};

/** The pieces of a JSON array of the JSON texts `items`. */
function* arrayParts(items: string[]): Generator<string> {
  yield '[';
  for (const [index, item] of items.entries()) {
    if (index > 0) yield ',';
    yield item;
  }
  yield ']';
}

/** The response of a list route: a JSON array (the whole list, or a page with a Link to the next). */
export const listResponse = async (
  client: Client,
  spec: ListSpec,
  event: APIGatewayProxyEventV2,
  ldap: { baseDN: string; url: string },
): Promise<APIGatewayProxyStructuredResultV2> => {
  const query = parseListQuery(event, spec.kind);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  let items: string[];
  if (query.limit === undefined) {
    items = await readAll(client, spec, ldap.baseDN, query.q, maxBodyBytes(event));
    const encoding = acceptedEncoding(event);
    // A large list is compressed here, piece by piece; the response middleware compresses the rest.
    if (encoding !== undefined && items.length > 100) {
      const compressed = await compressParts(arrayParts(items), encoding, items.reduce((n, item) => n + item.length + 1, 1));
      return encodedResult(200, headers, compressed, encoding);
    }
  } else {
    const page = await readPage(client, spec, ldap.baseDN, ldap.url, { ...query, limit: query.limit });
    items = page.items;
    if (page.next !== undefined) headers.Link = nextLink(event, { ...query, limit: query.limit }, page.next);
  }
  return { statusCode: 200, headers, body: `[${items.join(',')}]` };
};
