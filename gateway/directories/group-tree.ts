import { EqualityFilter, InsufficientAccessError, NoSuchObjectError, OrFilter } from 'ldapts';
import { normalizeDn } from './dn.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * How many levels of groups below a role group are followed. Real campuses nest a few levels; a chain
 * longer than this is a mistake (or a loop written as a chain), and its deeper groups give nothing.
 */
export const MAX_NESTING = 16;

/** The object classes of a group: OpenLDAP's groupOfNames and groupOfUniqueNames, Active Directory's group. */
export const GROUP_CLASSES = ['groupOfNames', 'groupOfUniqueNames', 'group'] as const;

export const isGroupFilter = () =>
  new OrFilter({ filters: GROUP_CLASSES.map((value) => new EqualityFilter({ attribute: 'objectClass', value })) });

/** A group as the directory wrote its DN, and the normalized DN it is compared by. */
export type Group = { dn: string; key: string };

/** Something about a group the sync could not follow: a line in the log, never a failed sync. */
export type GroupNote = { group: string; problem: string };

/** A group found below the deepest level followed: its members get nothing through it. */
export const tooDeep = (dn: string): GroupNote => ({
  group: dn,
  problem: `nested more than ${MAX_NESTING} levels below a role group; not followed`,
});

export const groupOf = (dn: string): Group => ({ dn, key: normalizeDn(dn) });

/** The role groups of a registration, each once however often it is mapped. */
export function roleGroupsOf(s: DirectorySettings): Group[] {
  const groups = new Map<string, Group>();
  for (const { group } of s.roleGroups) {
    const g = groupOf(group);
    if (!groups.has(g.key)) groups.set(g.key, g);
  }
  return [...groups.values()];
}

/**
 * The groups nested in `root`, down to MAX_NESTING levels, each once: a cycle (A in B in A) ends where it
 * comes back. `subgroups` gives the groups directly in a group.
 */
export function nestedIn(root: string, subgroups: (group: string) => Iterable<string>): Set<string> {
  const found = new Set<string>();
  let level = [root];
  for (let depth = 1; depth <= MAX_NESTING && level.length > 0; depth++) {
    const next: string[] = [];
    for (const group of level)
      for (const sub of subgroups(group))
        if (sub !== root && !found.has(sub)) {
          found.add(sub);
          next.push(sub);
        }
    level = next;
  }
  return found;
}

/**
 * A group the directory will not show the service account, or one named as a member that is not there
 * (a group deleted without its memberships): it is skipped. Anything else is the directory's trouble.
 */
export const isUnreadable = (error: unknown) =>
  error instanceof NoSuchObjectError || error instanceof InsufficientAccessError;

/** Why a group could not be read (isUnreadable), in plain words. */
export const unreadableBecause = (error: unknown) =>
  error instanceof NoSuchObjectError
    ? 'the directory has no such entry'
    : `the service account may not read it (${(error as Error).message})`;

/** A DN's normalized RDNs, leaf first (an escaped comma stays inside its value). */
export function rdnsOf(dn: string): string[] {
  const normalized = normalizeDn(dn);
  const rdns: string[] = [];
  let start = 0;
  for (let i = 0; i < normalized.length; i++) {
    if (normalized[i] === '\\') i++;
    else if (normalized[i] === ',') {
      rdns.push(normalized.slice(start, i));
      start = i + 1;
    }
  }
  if (normalized !== '') rdns.push(normalized.slice(start));
  return rdns;
}

/** Whether the entry of `dn` lies strictly below the entry of `base` (both as rdnsOf gives them). */
export function isBelow(dn: string[], base: string[]): boolean {
  if (dn.length <= base.length) return false;
  const tail = dn.slice(dn.length - base.length);
  return tail.every((rdn, i) => rdn === base[i]);
}

/** The domain a DN lies in: its trailing dc= RDNs (dc=campus,dc=example), or else its top RDN. */
export function domainOf(dn: string): string {
  const rdns = rdnsOf(dn);
  let start = rdns.length;
  while (start > 0 && rdns[start - 1]!.startsWith('dc=')) start--;
  return (start === rdns.length ? rdns.slice(-1) : rdns.slice(start)).join(',');
}
