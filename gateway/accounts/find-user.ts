import { Op } from 'sequelize';
import { ForbiddenError, NotFoundError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { membershipsOf, type UnitMembership } from './memberships.ts';
import { adminScopeOf, scopeCovers } from './scope.ts';
import { remember } from '../request-memo.ts';
import { findByColumn } from '../../core/find-by-column.ts';

/** A user by id, whatever their status. */
export function userById(ctx: GatewayContext, id: string): Promise<User | null> {
  return remember(ctx, `user:${id}`, () => findByColumn(ctx.models.User, 'id', id, ctx.tx));
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
  if (!user) throw new NotFoundError('No such user');
  const memberships = (await membershipsOf(ctx, [user.id])).get(user.id) ?? [];
  const scope = adminScopeOf(ctx.actor);
  if (!scope.all) {
    const covered = memberships.filter((m) => scopeCovers(scope, m.unit.path)).length;
    if (covered === 0) throw new NotFoundError('No such user');
    if (covered < memberships.length || user.roles.includes('admin')) {
      throw new ForbiddenError('This user also belongs to units outside yours; ask an administrator');
    }
  }
  return { user, memberships };
}
