// Versions of users, groups and hosts for optimistic concurrency: GET answers an ETag, and a PUT
// with If-Match applies only to the version the client saw (412 otherwise).
//
// The ETag is a digest of the entry's entryCSN (operational: the change sequence number slapd
// stamps on every write of the entry) and of its memberOf values, which slapd's memberof overlay
// changes without a new entryCSN. A PUT checks the tags against the entry it reads, and its first
// modify of the entry asserts (RFC 4528) that entryCSN is still the one read, so a write by
// someone else in between makes it fail as a whole: the check and the write are one.
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { EqualityFilter, type Client, type Entry } from 'ldapts';
import { assertion, isAssertionFailed, withAssertion } from './assertion.js';
import { DirectoryClient, value, values } from './directory.js';
import { normalizeDN } from './dn.js';
import { apiError } from './errors.js';

/** The operational attribute an ETag is made of, to read along with the entry. */
export const VERSION_ATTRIBUTE = 'entryCSN';

export const etagOf = (entry: Entry): string => {
  const memberOf = values(entry, 'memberOf').map(normalizeDN).sort();
  const digest = createHash('sha256').update([value(entry, VERSION_ATTRIBUTE) ?? '', ...memberOf].join('\n')).digest('base64url');
  return `"${digest.slice(0, 27)}"`;
};

/** A response with the entry's ETag. */
export const withETag = (result: APIGatewayProxyStructuredResultV2, entry: Entry): APIGatewayProxyStructuredResultV2 => ({
  ...result,
  headers: { ...result.headers, ETag: etagOf(entry) },
});

/** The entity tags of an If-Match header (`*` included), or undefined when there is none. */
export const ifMatch = (event: APIGatewayProxyEventV2): string[] | undefined => {
  const header = event.headers['if-match'];
  if (header === undefined) return undefined;
  return header.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
};

/**
 * 412 unless the entry is the version one of `tags` names (`*`: any version). Then makes the
 * client's next modify of the entry assert that it is still that version (`objectClass`: the
 * entry's, see lib/assertion.ts). No tags (no If-Match): nothing to check.
 */
export const requireVersion = (client: Client, entry: Entry, objectClass: string, label: string, tags: string[] | undefined): void => {
  if (tags === undefined || tags.includes('*')) return;
  if (!tags.includes(etagOf(entry))) throw changedSince(label);
  const csn = value(entry, VERSION_ATTRIBUTE);
  if (csn === undefined || !(client instanceof DirectoryClient)) return;
  const control = assertion(objectClass, new EqualityFilter({ attribute: VERSION_ATTRIBUTE, value: csn }));
  client.precondition(entry.dn, {
    controls: (own) => withAssertion(own, control),
    // The modify may assert something of its own too: only a new entryCSN is a 412.
    failed: async (error) => {
      if (!isAssertionFailed(error)) return error;
      const now = (await client.search(entry.dn, { scope: 'base', attributes: [VERSION_ATTRIBUTE] })).searchEntries[0];
      return now === undefined || value(now, VERSION_ATTRIBUTE) !== csn ? changedSince(label) : error;
    },
  });
};

const changedSince = (label: string) => apiError(412, `${label} has changed since it was read: read it again`);
