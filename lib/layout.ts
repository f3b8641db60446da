// Keyper's directory layout, said once: where each kind of entry lives, the object classes entries
// are written with, and the names the service itself depends on. lib/dn.ts builds and parses DNs
// from it; scripts/ seed the directory and test/ build entries with it. Plain data: every function
// bundle imports it.

export type EntityKind = 'user' | 'group' | 'host';

/** The `ou` of each kind's container, right under the base DN. */
export const CONTAINERS: Record<EntityKind, string> = { user: 'people', group: 'groups', host: 'Hosts' };

export const ENTITY_KINDS: readonly EntityKind[] = ['user', 'group', 'host'];

/** The container DN of an entity kind, e.g. ou=people,<base>. */
export const containerDN = (kind: EntityKind, baseDN: string): string => `ou=${CONTAINERS[kind]},${baseDN}`;

/** The container of revocations (lib/revocations.ts), which the first revocation creates. */
export const REVOCATIONS_CONTAINER = 'revocations';
export const revocationsDN = (baseDN: string): string => `ou=${REVOCATIONS_CONTAINER},${baseDN}`;

/** The object classes of a container (ou=people, ou=revocations, ...). */
export const CONTAINER_OBJECT_CLASSES = ['top', 'organizationalUnit'];

/** The structural object class of each kind: what makes an entry in its container one of them. */
export const OBJECT_CLASSES: Record<EntityKind, string> = { user: 'inetOrgPerson', group: 'groupOfNames', host: 'device' };

/** The object classes of a new entry of each kind, as Keyper writes them. */
export const USER_OBJECT_CLASSES = ['top', 'inetOrgPerson', 'ldapPublicKey', 'pwdPolicy', 'extensibleObject'];
export const GROUP_OBJECT_CLASSES = ['top', 'groupOfNames'];
export const HOST_OBJECT_CLASSES = ['top', 'device', 'ldapPublicKey', 'extensibleObject'];
/** A revocation entry (structural class device); a CA's adds ldapPublicKey for its key. */
export const REVOCATION_OBJECT_CLASS = 'device';
export const REVOCATION_OBJECT_CLASSES = ['top', REVOCATION_OBJECT_CLASS];

/**
 * The placeholder member of otherwise empty groups. groupOfNames requires at least one `member`,
 * so a group that has no real members (AllHosts before the first host, a host's group after the
 * host is deleted) holds this DN. No entry has it; the API hides it from member lists. The local
 * directory seeds it and configures refint (`refint_nothing`) to put it in place of the last
 * member removed, so the value must stay in step with scripts/directory.ts.
 */
export const placeholderMember = (baseDN: string): string => `cn=placeholder,${baseDN}`;

/** The administrators: members of this group may do everything. */
export const ADMIN_GROUP = 'KeyperAdmins';
/** The group every host joins. */
export const HOSTS_GROUP = 'AllHosts';

/** Groups the service itself depends on: administrators, and the list every host joins. */
export const PROTECTED_GROUPS: readonly string[] = [ADMIN_GROUP, HOSTS_GROUP];

/** cn compares case-insensitively, so `keyperadmins` names the protected group too. */
export const isProtectedGroup = (name: string): boolean => PROTECTED_GROUPS.some((p) => p.toLowerCase() === name.toLowerCase());

/** The built-in administrator, which the directory is seeded with. */
export const ADMIN_USER = 'admin';

/** Users that cannot be deleted: the built-in administrator. */
export const isProtectedUser = (name: string): boolean => name === ADMIN_USER;

/** The description of the group created with a host (Keyper's wording). */
export const hostGroupDescription = (name: string): string => `${name} Autocreated Group`;
