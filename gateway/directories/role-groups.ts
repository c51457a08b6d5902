import type { Client } from 'ldapts';
import { AppError } from '../../core/errors.ts';
import { unavailable } from './connection.ts';
import { normalizeDn } from './dn.ts';
import { isUnreadable, roleGroupsOf, unreadableBecause, type GroupNote } from './group-tree.ts';
import { NOT_SHOWN, readMemberLists } from './member-lists.ts';
import { readNestedRoleGroups } from './member-of-nesting.ts';
import { groupsFromMemberOf, groupsFromMembers, withNestedGroups, type GroupsOf } from './read-entry.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * How a sync learns a person's role groups, read before the people: `groupsOf` for each entry, how many
 * groups nested in the role groups were found (0 without nested groups), what could not be followed
 * (`notes`: nested groups, which give nothing and are logged), and the role groups themselves that cannot
 * be read (`unreadable`: missing, or hidden from the service account).
 */
export type RoleGroups = { groupsOf: GroupsOf; nested: number; notes: GroupNote[]; unreadable: GroupNote[] };

/**
 * With memberOf the groups are on each entry: each role group is looked for by its DN, and only the groups
 * nested in the role groups are read here. Otherwise each role group is read once, by its DN, for its
 * member lists (member-lists.ts).
 */
export async function readRoleGroups(client: Client, directory: string, s: DirectorySettings): Promise<RoleGroups> {
  if (s.groupMembership === 'memberOf') {
    const unreadable = await unreadableRoleGroups(client, directory, s);
    if (!s.nestedGroups) return { groupsOf: groupsFromMemberOf, nested: 0, notes: [], unreadable };
    const { via, nested, notes } = await readNestedRoleGroups(client, directory, s);
    return { groupsOf: withNestedGroups(groupsFromMemberOf, via), nested, notes, unreadable };
  }
  const { members, nested, notes, unreadable } = await readMemberLists(client, directory, s);
  return { groupsOf: groupsFromMembers(members), nested, notes, unreadable };
}

/** The role groups the directory does not show the service account (memberOf mode reads none of them). */
async function unreadableRoleGroups(client: Client, directory: string, s: DirectorySettings): Promise<GroupNote[]> {
  const unreadable: GroupNote[] = [];
  for (const { dn } of roleGroupsOf(s)) {
    try {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['1.1'],
      });
      if (searchEntries.length === 0) unreadable.push({ group: dn, problem: NOT_SHOWN });
    } catch (error) {
      if (!isUnreadable(error)) throw unavailable(directory, error);
      unreadable.push({ group: dn, problem: unreadableBecause(error) });
    }
  }
  return unreadable;
}

/**
 * A role group (or unit-admin group) that cannot be read: a sync, or a first sign-in, would take its role
 * from every member (staff become students, the directory's administrators lose the console), so nothing
 * is changed until its DN or the service account's access is fixed, as when the directory does not answer.
 */
export class RoleGroupUnreadableError extends AppError {
  constructor(directory: string, s: DirectorySettings, unreadable: GroupNote[]) {
    const named = unreadable.map(({ group, problem }) => {
      const roles = s.roleGroups
        .filter((g) => normalizeDn(g.group) === normalizeDn(group))
        .map((g) => (g.unit ? `unit-admin of ${g.unit}` : g.role));
      return `the ${[...new Set(roles)].join(' and ')} role group ${group} (${problem})`;
    });
    const one = unreadable.length === 1;
    super(
      'directory_group_unreadable',
      409,
      `${named.join('; ')} cannot be read, so ${one ? 'its members would lose the role' : 'their members would lose those roles'}: ` +
        `fix the role group's DN (atrium directories update ${directory} --role-group …) or what the service ` +
        'account may read, then sync again',
    );
  }
}
