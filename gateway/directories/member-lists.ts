import type { Client, Entry, Filter } from 'ldapts';
import { unavailable } from './connection.ts';
import { normalizeDn } from './dn.ts';
import {
  isBelow,
  isGroupFilter,
  isUnreadable,
  MAX_NESTING,
  nestedIn,
  rdnsOf,
  roleGroupsOf,
  tooDeep,
  unreadableBecause,
  type Group,
  type GroupNote,
} from './group-tree.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * Each role group's members (normalized DNs), with those of the groups nested in it when asked; `unreadable`:
 * the role groups themselves that cannot be read (role-groups.ts).
 */
export type MemberLists = {
  members: Map<string, Set<string>>;
  nested: number;
  notes: GroupNote[];
  unreadable: GroupNote[];
};

/** A group's direct members: normalized DN → the DN as the directory wrote it. */
type Members = Map<string, string>;

/** Possible groups looked at together: one base-scope search each, a few in flight on the connection. */
const PROBES_AT_ONCE = 8;

/**
 * `member` mode (groupOfNames, groupOfUniqueNames): each role group is read once, by its DN, for its
 * `member` and `uniqueMember` lists. With nested groups, a member that may be a group is looked at once
 * (a base-scope search for a group object class, which reads its members too), level by level, down to
 * MAX_NESTING levels; each entry is read at most once per sync, so a cycle ends. Which members may be
 * groups is said by `mayBeGroup`, so that the people of a large group are not searched one by one.
 */
export async function readMemberLists(client: Client, directory: string, s: DirectorySettings): Promise<MemberLists> {
  const notes: GroupNote[] = [];
  const unreadable: GroupNote[] = [];
  const graph = new Map<string, Members>();
  const roots = roleGroupsOf(s);
  for (const root of roots) {
    // A role group that is not there, or that the service account may not see, would take its role from
    // every member: said, so that the caller changes nothing (role-groups.ts).
    const read = await readGroup(client, directory, root, '(objectClass=*)', isUnreadable);
    if (!read || 'problem' in read) unreadable.push({ group: root.dn, problem: read ? read.problem : NOT_SHOWN });
    graph.set(root.key, read && 'members' in read ? read.members : new Map());
  }
  if (s.nestedGroups) await readNested(client, directory, s, graph, notes);
  const members = new Map<string, Set<string>>();
  const nested = new Set<string>();
  const subgroups = (group: string) => [...(graph.get(group)?.keys() ?? [])].filter((m) => graph.has(m));
  for (const root of roots) {
    const inside = s.nestedGroups ? nestedIn(root.key, subgroups) : new Set<string>();
    for (const group of inside) nested.add(group);
    members.set(root.key, new Set([root.key, ...inside].flatMap((g) => [...graph.get(g)!.keys()])));
  }
  return { members, nested: nested.size, notes, unreadable };
}

/** A base-scope search that returns nothing: an entry the service account may not see. */
export const NOT_SHOWN = 'the directory shows no such entry to the service account';

/**
 * Reads the groups nested in the role groups into `graph`, one level at a time. The level below
 * MAX_NESTING is looked at too, only to say in the log that it is not followed.
 */
async function readNested(
  client: Client,
  directory: string,
  s: DirectorySettings,
  graph: Map<string, Members>,
  notes: GroupNote[],
): Promise<void> {
  const looked = new Set(graph.keys());
  const maybe = mayBeGroup(s);
  let level = [...graph.keys()];
  for (let depth = 1; depth <= MAX_NESTING + 1 && level.length > 0; depth++) {
    const candidates: Group[] = [];
    for (const group of level)
      for (const [key, dn] of graph.get(group)!)
        if (!looked.has(key) && maybe(dn)) {
          looked.add(key);
          candidates.push({ dn, key });
        }
    const found = await probe(client, directory, candidates, notes);
    if (depth > MAX_NESTING) {
      for (const { dn } of found.values()) notes.push(tooDeep(dn));
      return;
    }
    for (const [key, { members }] of found) graph.set(key, members);
    level = [...found.keys()];
  }
}

/**
 * Where a member may be a group: under the group base, unless it lies in a user base that is itself
 * below the group base (the group base is then the whole directory); without a group base, anywhere
 * outside the user base.
 */
function mayBeGroup(s: DirectorySettings): (dn: string) => boolean {
  const users = rdnsOf(s.userBase);
  if (!s.groupBase) return (dn) => !isBelow(rdnsOf(dn), users);
  const groups = rdnsOf(s.groupBase);
  const usersInside = isBelow(users, groups);
  return (dn) => {
    const rdns = rdnsOf(dn);
    return isBelow(rdns, groups) && !(usersInside && isBelow(rdns, users));
  };
}

/** The candidates that are groups, with their members. */
async function probe(
  client: Client,
  directory: string,
  candidates: Group[],
  notes: GroupNote[],
): Promise<Map<string, { dn: string; members: Members }>> {
  const found = new Map<string, { dn: string; members: Members }>();
  for (let i = 0; i < candidates.length; i += PROBES_AT_ONCE) {
    const batch = candidates.slice(i, i + PROBES_AT_ONCE);
    const read = await Promise.all(
      batch.map((group) => readGroup(client, directory, group, isGroupFilter(), isUnreadable)),
    );
    batch.forEach((group, j) => {
      const result = read[j];
      if (result && 'members' in result) found.set(group.key, { dn: group.dn, members: result.members });
      if (result && 'problem' in result)
        notes.push({ group: group.dn, problem: `a member of a role group cannot be read (${result.problem})` });
    });
  }
  return found;
}

/**
 * One entry's members, read by its DN: null when the filter does not match it (a person looked at as a
 * possible group), a problem when the entry cannot be read in a way `skipped` lets pass.
 */
async function readGroup(
  client: Client,
  directory: string,
  group: Group,
  filter: string | Filter,
  skipped: (error: unknown) => boolean,
): Promise<{ members: Members } | { problem: string } | null> {
  try {
    const { searchEntries } = await client.search(group.dn, {
      scope: 'base',
      filter,
      attributes: ['member', 'uniqueMember'],
    });
    return searchEntries.length > 0 ? { members: membersOf(searchEntries) } : null;
  } catch (error) {
    if (!skipped(error)) throw unavailable(directory, error);
    return { problem: unreadableBecause(error) };
  }
}

function membersOf(entries: Entry[]): Members {
  const members: Members = new Map();
  for (const entry of entries)
    for (const value of [entry.member, entry.uniqueMember].flat()) {
      if (value === undefined) continue;
      const dn = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
      members.set(normalizeDn(dn), dn);
    }
  return members;
}
