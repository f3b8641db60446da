// The placeholder member of otherwise empty groups. groupOfNames requires at least one `member`,
// so a group that has no real members (AllHosts before the first host, a host's group after the
// host is deleted) holds this DN. No entry has it; the API hides it from member lists.
// The local directory seeds it and configures refint (`refint_nothing`) to put it in place of the
// last member removed, so the value must stay in step with scripts/directory.ts.

/** DN of the never-existing placeholder member for the directory rooted at `baseDN`. */
export const placeholderMember = (baseDN: string): string => `cn=placeholder,${baseDN}`;
