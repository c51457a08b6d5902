import { Op } from 'sequelize';
import { ForbiddenError, NotFoundError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { Role, User } from '../models/index.ts';
import { membershipsOf, type UnitMembership } from './memberships.ts';
import { adminScopeOf, scopeCovers, type AdminScope } from './scope.ts';
import { remember } from '../request-memo.ts';
import { findByColumn } from '../../core/find-by-column.ts';

/** A user by id, whatever their status. */
export function userById(ctx: GatewayContext, id: string): Promise<User | null> {
  return remember(ctx, `user:${id}`, () => findByColumn(ctx.models.User, 'id', id, ctx.tx));
}

/**
 * Why an actor may not manage someone with a unit in their scope, or null when they may: every unit of
 * the person must lie in the scope, and only a campus administrator manages a campus administrator.
 */
export function whyNotManageable(scope: AdminScope, unitPaths: string[], roles: Role[]): string | null {
  if (scope.all) return null;
  if (roles.includes('admin')) return 'This user is a campus administrator; only a campus administrator manages them';
  if (unitPaths.some((path) => !scopeCovers(scope, path)))
    return 'This user also belongs to units outside yours; ask a campus administrator';
  return null;
}

/**
 * Finds a user the actor may manage: every one of the user's units must lie in the actor's scope, so a
 * unit admin cannot touch someone who also belongs to another college. Outside the scope the answer is
 * "not found", which tells nothing about who exists elsewhere.
 */
export async function findManageableUser(
  ctx: GatewayContext,
  idOrUsername: string,
): Promise<{ user: User; memberships: UnitMembership[] }> {
  const user = await ctx.models.User.findOne({
    where: { [Op.or]: [{ id: idOrUsername }, { username: idOrUsername.toLowerCase() }] },
    transaction: ctx.tx,
  });
  if (!user) throw new NotFoundError(`No such user: ${idOrUsername}`);
  const memberships = (await membershipsOf(ctx, [user.id])).get(user.id) ?? [];
  const scope = adminScopeOf(ctx.actor);
  if (!scope.all) {
    if (!memberships.some((m) => scopeCovers(scope, m.unit.path)))
      throw new NotFoundError(`No such user: ${idOrUsername}`);
    const why = whyNotManageable(
      scope,
      memberships.map((m) => m.unit.path),
      user.roles,
    );
    if (why) throw new ForbiddenError(why);
  }
  return { user, memberships };
}
