import { Op, type WhereOptions } from 'sequelize';
import { z } from 'zod';
import { containsPattern, like, prefixPattern } from '../../core/like.ts';
import { foldForSearch } from '../../core/search-text.ts';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { presentUsers, type PresentedUser } from './present-user.ts';
import { adminScopeOf } from './scope.ts';
import { unitsAsSeen, type SeenUnit } from './units-as-seen.ts';

/** The longest search text: a name, username or email address, or a part of one. */
export const SEARCH_MAX = 100;

const querySchema = z.object({
  q: z
    .string()
    .trim()
    .max(SEARCH_MAX, { message: `a search takes at most ${SEARCH_MAX} characters` })
    .optional()
    .default(''),
  page: z.coerce.number().int().min(1).max(100_000).optional().default(1),
  pageSize: z.coerce.number().int().min(1).max(200).optional().default(25),
});

/** A person listed: their units as the reader may see them (units-as-seen.ts). */
export type ListedUser = Omit<PresentedUser, 'units'> & { units: SeenUnit[] };

export type UserPage = { users: ListedUser[]; page: number; pageSize: number; total: number; pages: number };

/**
 * Searches users by username, name or email, limited to those with a unit in the actor's scope. The search
 * ignores case in every script and accents (core/search-text.ts), alike on SQLite and MariaDB. A unit admin
 * reads the units of theirs by name, and the others only as "units outside yours".
 */
export async function listUsers(ctx: GatewayContext, query: unknown): Promise<UserPage> {
  const { q, page, pageSize } = parseInput(querySchema, query);
  const { User, Membership, OrgUnit } = ctx.models;
  const where: WhereOptions<User>[] = [];
  if (q) where.push({ searchText: like(ctx.sequelize, containsPattern(foldForSearch(q))) });
  const scope = adminScopeOf(ctx.actor);
  if (!scope.all) {
    const units = await OrgUnit.findAll({
      where: {
        [Op.or]: scope.roots.flatMap((root) => [
          { path: root },
          { path: like(ctx.sequelize, prefixPattern(`${root}/`)) },
        ]),
      },
      attributes: ['id'],
      transaction: ctx.tx,
    });
    const members = await Membership.findAll({
      where: { unitId: { [Op.in]: units.map((u) => u.id) } },
      attributes: ['userId'],
      transaction: ctx.tx,
    });
    where.push({ id: { [Op.in]: [...new Set(members.map((m) => m.userId))] } });
  }
  const { rows, count } = await User.findAndCountAll({
    where: { [Op.and]: where },
    order: [['username', 'ASC']],
    limit: pageSize,
    offset: (page - 1) * pageSize,
    transaction: ctx.tx,
  });
  return {
    users: (await presentUsers(ctx, rows)).map((u) => ({ ...u, units: unitsAsSeen(scope, u.units) })),
    page,
    pageSize,
    total: count,
    pages: Math.max(1, Math.ceil(count / pageSize)),
  };
}
