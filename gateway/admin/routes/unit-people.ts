import type { MovedMembers } from '../../accounts/move-members.ts';
import { fewNames } from '../../accounts/remove-unit.ts';
import { membersOfUnit, unmanageable } from '../../accounts/unit-members.ts';
import type { UnitNode } from '../../accounts/unit-tree.ts';
import type { GatewayContext } from '../../context.ts';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * What the Units page's "Move its people" form shows of a unit: its members, those the actor may not move
 * (only a campus administrator can), the units it may move them to (the actor's, but this one), and the
 * members shown, for the move to refuse once they are others (a stale page). Null: nobody to move.
 */
export async function peopleOf(ctx: GatewayContext, path: string, tree: UnitNode[]) {
  const unit = await ctx.models.OrgUnit.findOne({ where: { path } });
  if (!unit) return null;
  const { members, units } = await membersOfUnit(ctx, unit.id);
  if (members.length === 0) return null;
  const usernames = members.map((m) => m.username);
  const onlyCampusAdmins = unmanageable(ctx, members, units);
  return {
    summary: `${count(members.length, 'member', 'members')}: ${fewNames(usernames)}`,
    onlyCampusAdmins: onlyCampusAdmins.length > 0 ? fewNames(onlyCampusAdmins) : null,
    shown: JSON.stringify(usernames),
    targets: tree.filter((node) => node.path !== path),
  };
}

/** The members a posted form showed, or null when it says none (a page from before it carried them). */
export function shownMembers(field: string): string[] | null {
  try {
    const shown: unknown = JSON.parse(field);
    return Array.isArray(shown) && shown.every((s) => typeof s === 'string') ? shown : null;
  } catch {
    return null;
  }
}

/** What moving a unit's people did, and who stays in it and why, in the console's words. */
export function movedNotice(m: MovedMembers): string {
  const lines =
    m.moved.length > 0
      ? [`Moved ${count(m.moved.length, 'member', 'members')} of ${m.from} to ${m.to}: ${fewNames(m.moved)}.`]
      : [`Moved nobody from ${m.from}.`];
  if (m.unitAdmins.length > 0)
    lines.push(`Unit admins among them now administer ${m.to}, being its members: ${fewNames(m.unitAdmins)}.`);
  for (const d of m.domainsLeft)
    lines.push(
      `Took ${count(d.people.length, 'person', 'people')} off ${d.domain}: their direct conversations there stay on its node; their groups follow them where they chat now.`,
    );
  for (const l of m.left)
    lines.push(
      `Left in ${m.from}: ${count(l.people.length, 'person', 'people')} of directory ${l.directory} (${fewNames(l.people)}); their units follow the directory: change their entries there, then sync it (Directories).`,
    );
  if (m.leftToCampusAdmins.length > 0)
    lines.push(
      `Left in ${m.from}: ${fewNames(m.leftToCampusAdmins)}, whom only a campus administrator can move (campus administrators, or people of units outside yours).`,
    );
  if (m.remaining === 0) lines.push(`${m.from} has no members now; remove it below once nothing else uses it.`);
  return lines.join(' ');
}
