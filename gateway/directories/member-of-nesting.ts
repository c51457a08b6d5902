import { AndFilter, EqualityFilter, NoSuchObjectError, type Client } from 'ldapts';
import { unavailable } from './connection.ts';
import {
  domainOf,
  groupOf,
  isGroupFilter,
  isUnreadable,
  MAX_NESTING,
  nestedIn,
  roleGroupsOf,
  tooDeep,
  type Group,
  type GroupNote,
} from './group-tree.ts';
import { PAGE_SIZE } from './presets.ts';
import type { DirectorySettings } from './schemas.ts';

/** For each group nested in a role group (normalized DN), the role groups it is nested in. */
export type NestedRoleGroups = { via: Map<string, Set<string>>; nested: number; notes: GroupNote[] };

/**
 * `memberOf` mode (Active Directory): a person's memberOf names their direct groups only, so the groups
 * nested in each role group are found first, by searching for groups whose own memberOf names it (under
 * the group base, or else the domain of the group's DN: its dc= suffix), then for groups in those, down
 * to MAX_NESTING levels. Each group is searched for once per sync, so a cycle ends. AD could answer it in
 * one search (LDAP_MATCHING_RULE_IN_CHAIN), but that rule is AD's alone; this asks only what any
 * directory with memberOf answers.
 */
export async function readNestedRoleGroups(
  client: Client,
  directory: string,
  s: DirectorySettings,
): Promise<NestedRoleGroups> {
  const notes: GroupNote[] = [];
  const roots = roleGroupsOf(s);
  const children = new Map<string, Group[]>();
  const seen = new Set(roots.map((r) => r.key));
  let level = roots;
  // The level below MAX_NESTING is searched for too, only to say in the log that it is not followed.
  for (let depth = 0; depth <= MAX_NESTING && level.length > 0; depth++) {
    const next: Group[] = [];
    for (const group of level) {
      const inside = await groupsIn(client, directory, s.groupBase, group, notes);
      children.set(group.key, inside);
      for (const child of inside) {
        if (seen.has(child.key)) continue;
        seen.add(child.key);
        if (depth < MAX_NESTING) next.push(child);
        else notes.push(tooDeep(child.dn));
      }
    }
    level = next;
  }
  const via = new Map<string, Set<string>>();
  const subgroups = (group: string) => (children.get(group) ?? []).map((g) => g.key);
  for (const root of roots)
    for (const group of nestedIn(root.key, subgroups)) {
      const roles = via.get(group) ?? new Set<string>();
      roles.add(root.key);
      via.set(group, roles);
    }
  return { via, nested: via.size, notes };
}

/**
 * The groups whose memberOf names `group`, under the group base or else the domain of the group's DN
 * (paged: AD returns at most 1,000 a page).
 */
async function groupsIn(
  client: Client,
  directory: string,
  groupBase: string | null,
  group: Group,
  notes: GroupNote[],
): Promise<Group[]> {
  const base = groupBase ?? domainOf(group.dn);
  const filter = new AndFilter({
    filters: [isGroupFilter(), new EqualityFilter({ attribute: 'memberOf', value: group.dn })],
  });
  const found: Group[] = [];
  try {
    for await (const page of client.searchPaginated(base, {
      scope: 'sub',
      filter,
      attributes: ['1.1'],
      paged: { pageSize: PAGE_SIZE },
    }))
      for (const entry of page.searchEntries) found.push(groupOf(entry.dn));
  } catch (error) {
    if (!isUnreadable(error)) throw unavailable(directory, error);
    notes.push({
      group: group.dn,
      problem: `the groups in it cannot be searched for: ${searchProblem(error, base, groupBase)}`,
    });
    return [];
  }
  return found;
}

/**
 * Why the search under `base` failed (isUnreadable), in the plain words of the other problems
 * (connection.ts) and with what to change; the library's own words are no help to IT.
 */
function searchProblem(error: unknown, base: string, groupBase: string | null): string {
  // Without a group base the domain of the group's DN is searched, which IT never typed.
  const change = groupBase === null ? `set a group base (without one, ${base} is searched)` : 'check the group base';
  if (error instanceof NoSuchObjectError) return `the directory has no entry ${base}: ${change}`;
  return `the service account may not search under ${base}: let it read the groups there, or ${change}`;
}
