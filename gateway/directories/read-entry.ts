import type { Entry } from 'ldapts';
import { withoutControlCharacters } from '../../core/control-characters.ts';
import { showsSomething } from '../../core/plain-names.ts';
import { displayNameSchema, emailSchema, usernameSchema } from '../accounts/schemas.ts';
import type { Role } from '../models/index.ts';
import { expiryOf } from './account-expiry.ts';
import { disabledOf } from './disabled-flag.ts';
import { normalizeDn } from './dn.ts';
import { entryIdOf } from './entry-id.ts';
import { PASSWORD_CHANGED_MAX } from './password-changes.ts';
import type { DirectorySettings } from './schemas.ts';
import type { DisabledThere, Refusal } from './sync-report.ts';
import { type KnownUnits, unitOfEntry, type UnitPlace } from './unit-of-entry.ts';

/** A directory entry as the person Atrium would keep. */
export type Person = {
  dn: string;
  /** The entry's stable id (entry-id.ts); null when the directory is set to have none. */
  entryId: string | null;
  username: string;
  displayName: string;
  email: string;
  unit: UnitPlace;
  /**
   * The units of the person's unit-admin groups: the only units they administer (the primary one among
   * them only when a group names it); the others become memberships besides the primary unit.
   */
  adminUnits: string[];
  roles: Role[];
  /** Disabled in the directory, or its account expired there: either disables the person here. */
  disabled: boolean;
  /** Disabled only because its account expired there (account-expiry.ts), which is what the audit log says. */
  expired: boolean;
  /** Why the entry's disabled attribute could not be read (disabled-flag.ts); it then counts as not disabled. */
  disabledProblem?: string | null;
  /** Why the entry's expiry attribute could not be read (account-expiry.ts); it then counts as not expired. */
  expiryProblem?: string | null;
  /** When the entry's password last changed, as the directory wrote it; null when it had no value (or none is read). */
  passwordChanged: string | null;
};

/**
 * An entry that cannot become a person still says whether the directory marks it disabled (or expired): a
 * person disabled there, whose mailbox was cleared on the way out, must not stay active here.
 */
export type Unread = {
  refusal: Refusal;
  disabled: boolean;
  expired: boolean;
  disabledProblem?: string | null;
  expiryProblem?: string | null;
  entryId: string | null;
  passwordChanged: string | null;
};

export type ReadEntry = { person: Person } | Unread;

/** Which groups an entry is in (normalized DNs): its memberOf, or what the groups' member lists say. */
export type GroupsOf = (entry: Entry, values: (name: string) => string[]) => Set<string>;

/** The attributes a sync or a sign-in asks the directory for. */
export function attributesToRead(s: DirectorySettings): string[] {
  const wanted = [s.usernameAttribute, ...s.nameAttributes, ...s.emailAttributes];
  if (s.disabledAttribute) wanted.push(s.disabledAttribute);
  if (s.expiryAttribute) wanted.push(s.expiryAttribute);
  if (s.idAttribute) wanted.push(s.idAttribute);
  if (s.passwordChangedAttribute) wanted.push(s.passwordChangedAttribute);
  if (s.unitFrom === 'attribute' && s.unitAttribute) wanted.push(s.unitAttribute);
  if (s.groupMembership === 'memberOf') wanted.push('memberOf');
  return [...new Set(wanted)];
}

/** The values of one attribute, whatever case the directory spells its name in. */
export function valuesOf(entry: Entry): (name: string) => string[] {
  const byLower = new Map(Object.keys(entry).map((k) => [k.toLowerCase(), k]));
  return (name) => {
    const key = byLower.get(name.toLowerCase());
    const raw = key === undefined ? undefined : entry[key];
    const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))).filter((v) => v.trim() !== '');
  };
}

/** When the entry's password last changed (password-changes.ts), cut to what a link keeps; null without a value. */
export function passwordChangedOf(values: (name: string) => string[], s: DirectorySettings): string | null {
  const value = s.passwordChangedAttribute ? values(s.passwordChangedAttribute)[0] : undefined;
  return value === undefined ? null : value.trim().slice(0, PASSWORD_CHANGED_MAX);
}

/** Whether the entry's person is disabled here by what the directory says of it, and what it could not read. */
export type Standing = Pick<Person, 'disabled' | 'expired' | 'disabledProblem' | 'expiryProblem'>;

/**
 * What the entry's disabled flag (disabled-flag.ts) and account expiry (account-expiry.ts) say together:
 * either disables the person; `expired` when only the expiry does.
 */
export function standingOf(values: (name: string) => string[], s: DirectorySettings, now = Date.now()): Standing {
  const flag = disabledOf(values, s, now);
  const expiry = expiryOf(values, s, now);
  return {
    disabled: flag.disabled || expiry.expired,
    expired: expiry.expired && !flag.disabled,
    disabledProblem: flag.problem,
    expiryProblem: expiry.problem,
  };
}

/** Why the directory disables someone here, in the words of the audit log: disabled there, or expired there. */
export const disabledThere = (standing: Pick<Standing, 'expired'>): DisabledThere =>
  standing.expired ? 'expired in the directory' : 'disabled in the directory';

const first = (values: (name: string) => string[], names: string[]) =>
  names.map((n) => values(n)[0]).find((v) => v !== undefined);

/**
 * A name as the directory gives it, without the control and bidi characters a typed name is refused for
 * (core/plain-names.ts): the directory's word is taken, not refused. Undefined when nothing would show.
 */
function plainDirectoryName(raw: string | undefined): string | undefined {
  const plain = raw === undefined ? undefined : withoutControlCharacters(raw);
  return plain !== undefined && showsSomething(plain) ? plain : undefined;
}

/**
 * Reads one entry into a person, or says why it cannot become one. `units`: the units that exist, so that
 * the person lands in a unit an earlier sync made for their OU (unit-of-entry.ts).
 */
export function readEntry(entry: Entry, s: DirectorySettings, groupsOf: GroupsOf, units?: KnownUnits): ReadEntry {
  const values = valuesOf(entry);
  const standing = standingOf(values, s);
  const rawName = values(s.usernameAttribute)[0];
  const id = entryIdOf(entry, s);
  const entryId = 'id' in id ? id.id : null;
  const passwordChanged = passwordChangedOf(values, s);
  const refusal = (reason: string, username: string | null = rawName ?? null): ReadEntry => ({
    refusal: { username, dn: entry.dn, reason },
    ...standing,
    entryId,
    passwordChanged,
  });
  // Without its id an entry cannot be told from one that merely carries someone's username.
  if ('problem' in id) return refusal(id.problem);
  if (!rawName) return refusal(`has no ${s.usernameAttribute}`);
  const username = usernameSchema.safeParse(rawName);
  if (!username.success)
    return refusal(
      `${s.usernameAttribute} "${rawName}" cannot be an Atrium username (${username.error.issues[0]!.message})`,
    );
  const rawDisplay = plainDirectoryName(first(values, s.nameAttributes));
  const displayName = displayNameSchema.safeParse(rawDisplay ?? username.data);
  if (!displayName.success)
    return refusal(`its name is not usable (${displayName.error.issues[0]!.message})`, username.data);
  const rawEmail = first(values, s.emailAttributes);
  if (!rawEmail) return refusal(`has no email (${s.emailAttributes.join(' or ')})`, username.data);
  const email = emailSchema.safeParse(rawEmail);
  if (!email.success) return refusal(`email "${rawEmail}" is ${email.error.issues[0]!.message}`, username.data);
  const unit = unitOfEntry(entry.dn, values, s, units);
  if ('problem' in unit) return refusal(unit.problem, username.data);

  const groups = groupsOf(entry, values);
  const matched = s.roleGroups.filter((g) => groups.has(normalizeDn(g.group)));
  const roles = new Set<Role>(matched.map((g) => g.role));
  if (!roles.has('student') && !roles.has('staff') && !roles.has('admin')) roles.add(s.defaultRole);
  const adminUnits = [...new Set(matched.flatMap((g) => (g.unit ? [g.unit] : [])))];
  return {
    person: {
      dn: entry.dn,
      entryId,
      username: username.data,
      displayName: displayName.data,
      email: email.data,
      unit,
      adminUnits,
      roles: [...roles].sort(),
      ...standing,
      passwordChanged,
    },
  };
}

/** memberOf on the entry (Active Directory, or OpenLDAP's memberof overlay). */
export const groupsFromMemberOf: GroupsOf = (_entry, values) => new Set(values('memberOf').map(normalizeDn));

/** The groups' own member lists, read once before the people (OpenLDAP groupOfNames without the overlay). */
export function groupsFromMembers(membersByGroup: Map<string, Set<string>>): GroupsOf {
  return (entry) => {
    const dn = normalizeDn(entry.dn);
    const groups = new Set<string>();
    for (const [group, members] of membersByGroup) if (members.has(dn)) groups.add(group);
    return groups;
  };
}

/**
 * A person's groups as `direct` reads them, and besides each of them the role groups it is nested in
 * (`via`: nested group → role groups, normalized DNs), as if they were members of those directly.
 */
export function withNestedGroups(direct: GroupsOf, via: Map<string, Set<string>>): GroupsOf {
  return (entry, values) => {
    const groups = direct(entry, values);
    for (const group of [...groups]) for (const role of via.get(group) ?? []) groups.add(role);
    return groups;
  };
}
