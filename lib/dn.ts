// Names and DNs of Keyper's entities. DNs are built only from names that passed an allowlist, with
// values escaped by ldapts' DN builder (RFC 4514); incoming DNs are parsed against the same
// allowlists, never trusted as strings.
import { DN } from 'ldapts';
import { containerDN, ENTITY_KINDS, type EntityKind } from './layout.js';

/** A Linux login name. */
export const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
/**
 * The longest host or group name the directory can hold. DNS allows 253 characters, but OpenLDAP's
 * back-mdb keeps each RDN twice (as written and normalised) in an LMDB record of at most 511 bytes:
 * `cn=` plus 243 characters is refused with LDAP "other", which would surface as a 500. Names are
 * ASCII (the patterns below), so characters are bytes.
 */
export const MAX_NAME_LENGTH = 242;
const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A DNS host name: labels of letters, digits and hyphens, at most MAX_NAME_LENGTH characters in all. */
export const HOST_NAME = new RegExp(`^(?=.{1,${MAX_NAME_LENGTH}}$)${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);
/** Group names: Keyper's (KeyperAdmins, demo_servers) and every host name (host groups). */
export const GROUP_NAME = new RegExp(`^(?=.{1,${MAX_NAME_LENGTH}}$)[A-Za-z0-9_][A-Za-z0-9_.-]*$`);

export const NAME_PATTERNS: Record<EntityKind, RegExp> = { user: USER_NAME, group: GROUP_NAME, host: HOST_NAME };

export const isValidName = (kind: EntityKind, name: string): boolean => NAME_PATTERNS[kind].test(name);

/** The DN of a named entity; the name is escaped even though it already passed the allowlist. */
export const entityDN = (kind: EntityKind, name: string, baseDN: string): string =>
  `${new DN().addPairRDN('cn', name).toString()},${containerDN(kind, baseDN)}`;

/**
 * DNs compare as LDAP compares them here: case-insensitively, ignoring spaces around separators.
 * Most DNs have no spaces at all, and for them that is just lower case (groups list thousands).
 */
export const normalizeDN = (dn: string): string =>
  !/\s/.test(dn)
    ? dn.toLowerCase()
    : dn
        .split(',')
        .map((rdn) => rdn.split('=').map((part) => part.trim()).join('='))
        .join(',')
        .toLowerCase();

export const sameDN = (a: string, b: string): boolean => normalizeDN(a) === normalizeDN(b);

/**
 * The entity a DN names, if it is `cn=<valid name>,<container>,<base>`; undefined otherwise.
 * Names with characters outside the allowlists never parse, so no escaping rules are needed here.
 */
export const parseEntityDN = (dn: string, baseDN: string): { kind: EntityKind; name: string } | undefined => {
  const normalized = normalizeDN(dn);
  for (const kind of ENTITY_KINDS) {
    const suffix = `,${normalizeDN(containerDN(kind, baseDN))}`;
    if (!normalized.startsWith('cn=') || !normalized.endsWith(suffix)) continue;
    // Take the name from the original string to keep its case (cn values compare case-insensitively).
    const rdn = dn.split(',')[0] ?? '';
    const name = rdn.slice(rdn.indexOf('=') + 1).trim();
    if (normalized !== `cn=${name.toLowerCase()}${suffix}`) continue;
    // cn compares case-insensitively, so CN=Alice names the user alice: login names are lowercase.
    const canonical = kind === 'user' ? name.toLowerCase() : name;
    if (!isValidName(kind, canonical)) continue;
    return { kind, name: canonical };
  }
  return undefined;
};

/**
 * Which DNs to add and remove to turn `current` into `wanted`, compared as LDAP compares DNs.
 * Each DN is normalised once (groups may have tens of thousands of members).
 */
export const diffDNs = (current: string[], wanted: string[]): { add: string[]; remove: string[] } => {
  const currentSet = new Set(current.map(normalizeDN));
  const wantedSet = new Set(wanted.map(normalizeDN));
  return { add: wanted.filter((dn) => !currentSet.has(normalizeDN(dn))), remove: current.filter((dn) => !wantedSet.has(normalizeDN(dn))) };
};
