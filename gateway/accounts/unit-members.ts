import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { whyNotManageable } from './find-user.ts';
import { membershipsOf } from './memberships.ts';
import { adminScopeOf } from './scope.ts';

/**
 * Members the actor may not manage, by username: a unit admin's campus administrators and people
 * who also belong to units outside theirs. Only a campus administrator moves those.
 */
export function unmanageable(ctx: GatewayContext, people: User[], units: Map<string, string[]>): string[] {
  const scope = adminScopeOf(ctx.actor);
  return people.filter((p) => whyNotManageable(scope, units.get(p.id) ?? [], p.roles) !== null).map((p) => p.username);
}

/** The members of a unit, by username, and their units' paths by id. */
export async function membersOfUnit(ctx: GatewayContext, unitId: string) {
  const memberships = await ctx.models.Membership.findAll({ where: { unitId }, transaction: ctx.tx });
  const members = await ctx.models.User.findAll({
    where: { id: { [Op.in]: memberships.map((m) => m.userId) } },
    order: [['username', 'ASC']],
    transaction: ctx.tx,
  });
  const lists = await membershipsOf(
    ctx,
    members.map((p) => p.id),
  );
  const units = new Map([...lists].map(([id, list]) => [id, list.map((m) => m.unit.path)]));
  return { members, units };
}
