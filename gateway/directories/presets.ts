/** Which kind of directory a registration starts from; every mapping field can still be set by hand. */
export const PRESETS = ['openldap', 'active-directory'] as const;
export type Preset = (typeof PRESETS)[number];

export type PresetDefaults = {
  userFilter: string;
  usernameAttribute: string;
  nameAttributes: string[];
  emailAttributes: string[];
  /** What says an account is disabled there (disabled-flag.ts); null when nothing does. */
  disabledAttribute: string | null;
  /** When an account ends there (account-expiry.ts); null when the directory keeps no such date. */
  expiryAttribute: string | null;
  /** The attribute that names an entry for its whole life, whatever its DN or username (see entry-id.ts). */
  idAttribute: string | null;
  groupMembership: 'member' | 'memberOf';
  /** When the entry's password was last changed (password-changes.ts); null when the directory keeps no such time. */
  passwordChangedAttribute: string | null;
};

/**
 * OpenLDAP with the `inetOrgPerson` schema: `uid`, `displayName` or `cn`, `mail`; groups are
 * `groupOfNames` entries listing their `member`s (no overlay needed).
 * Active Directory: `sAMAccountName`, `displayName` or `cn`, `mail` or else `userPrincipalName`; a
 * person's groups are their `memberOf` (AD hands out a group's `member` list in ranges, memberOf not);
 * `userAccountControl` bit 2 (ACCOUNTDISABLE) marks a disabled account. OpenLDAP has no such flag; its
 * ppolicy overlay locks an entry with `pwdAccountLockedTime` (operational, so asked for by name; absent
 * without the overlay, which then locks nobody): an administrator's lock for good disables the person.
 * Each keeps a stable id on every entry, set when the entry is made and never changed: OpenLDAP's
 * operational `entryUUID` (RFC 4530), AD's binary `objectGUID`.
 * Each keeps when a password was last changed: AD's `pwdLastSet` (a FILETIME; 0 while the person must
 * change it at their next logon), OpenLDAP's `pwdChangedTime`, which only the ppolicy overlay writes
 * (operational, so asked for by name; absent from an entry whose password never changed under it).
 * AD ends an account on a date too, its `accountExpires` (a FILETIME; 0 or the largest 64-bit number: never);
 * OpenLDAP keeps no such date unless told (ppolicy's pwdEndTime, set by hand).
 */
export const PRESET_DEFAULTS: Record<Preset, PresetDefaults> = {
  openldap: {
    userFilter: '(objectClass=inetOrgPerson)',
    usernameAttribute: 'uid',
    nameAttributes: ['displayName', 'cn'],
    emailAttributes: ['mail'],
    disabledAttribute: 'pwdAccountLockedTime',
    expiryAttribute: null,
    idAttribute: 'entryUUID',
    groupMembership: 'member',
    passwordChangedAttribute: 'pwdChangedTime',
  },
  'active-directory': {
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    usernameAttribute: 'sAMAccountName',
    nameAttributes: ['displayName', 'cn'],
    emailAttributes: ['mail', 'userPrincipalName'],
    disabledAttribute: 'userAccountControl',
    expiryAttribute: 'accountExpires',
    idAttribute: 'objectGUID',
    groupMembership: 'memberOf',
    passwordChangedAttribute: 'pwdLastSet',
  },
};

/** Entries a page of a search returns: what Active Directory allows (MaxPageSize), and enough everywhere else. */
export const PAGE_SIZE = 1000;
