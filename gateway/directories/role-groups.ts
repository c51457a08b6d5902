import type { Client } from 'ldapts';
import type { GroupNote } from './group-tree.ts';
import { readMemberLists } from './member-lists.ts';
import { readNestedRoleGroups } from './member-of-nesting.ts';
import { groupsFromMemberOf, groupsFromMembers, withNestedGroups, type GroupsOf } from './read-entry.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * How a sync learns a person's role groups, read before the people: `groupsOf` for each entry, how many
 * groups nested in the role groups were found (0 without nested groups), and what could not be followed.
 */
export type RoleGroups = { groupsOf: GroupsOf; nested: number; notes: GroupNote[] };

/**
 * With memberOf the groups are on each entry, and only the groups nested in the role groups are read
 * here. Otherwise each role group is read once, by its DN, for its member lists (member-lists.ts).
 */
export async function readRoleGroups(client: Client, directory: string, s: DirectorySettings): Promise<RoleGroups> {
  if (s.groupMembership === 'memberOf') {
    if (!s.nestedGroups) return { groupsOf: groupsFromMemberOf, nested: 0, notes: [] };
    const { via, nested, notes } = await readNestedRoleGroups(client, directory, s);
    return { groupsOf: withNestedGroups(groupsFromMemberOf, via), nested, notes };
  }
  const { members, nested, notes } = await readMemberLists(client, directory, s);
  return { groupsOf: groupsFromMembers(members), nested, notes };
}
