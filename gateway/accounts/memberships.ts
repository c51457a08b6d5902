import { QueryTypes } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { OrgUnit, User } from '../models/index.ts';
import { unitsByPaths } from './units.ts';
import { remember } from '../request-memo.ts';

/** `administers`: with the unit-admin role, the person administers this unit (models/accounts.ts). */
export type UnitMembership = { unit: OrgUnit; primary: boolean; administers: boolean };

/** The units of several users at once, primary unit first. */
export function membershipsOf(ctx: GatewayContext, userIds: string[]): Promise<Map<string, UnitMembership[]>> {
  return remember(ctx, `memberships:${userIds.join(',')}`, () => readMemberships(ctx, userIds));
}

type MembershipRow = {
  userId: string;
  isPrimary: number | boolean;
  administers: number | boolean;
  id: string;
  path: string;
  name: string;
  parentId: string | null;
  createdAt: Date | string;
  updatedAt: Date | string;
};

// MariaDB hands dates as Dates, SQLite as the text Sequelize stored.
const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));

/** One round trip (memberships joined to their units): every token request reads the person's units. */
async function readMemberships(ctx: GatewayContext, userIds: string[]): Promise<Map<string, UnitMembership[]>> {
  const out = new Map<string, UnitMembership[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return out;
  const rows = await ctx.sequelize.query<MembershipRow>(
    `SELECT m.user_id AS userId, m.is_primary AS isPrimary, m.administers AS administers, u.id AS id, u.path AS path, u.name AS name,
            u.parent_id AS parentId, u.created_at AS createdAt, u.updated_at AS updatedAt
     FROM memberships m JOIN org_units u ON u.id = m.unit_id
     WHERE m.user_id IN (:userIds)`,
    { replacements: { userIds }, type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  for (const row of rows) {
    const unit = ctx.models.OrgUnit.build(
      {
        id: row.id,
        path: row.path,
        name: row.name,
        parentId: row.parentId,
        createdAt: asDate(row.createdAt),
        updatedAt: asDate(row.updatedAt),
      },
      { isNewRecord: false, raw: true },
    );
    out.get(row.userId)?.push({ unit, primary: Boolean(row.isPrimary), administers: Boolean(row.administers) });
  }
  for (const list of out.values())
    list.sort((a, b) => Number(b.primary) - Number(a.primary) || a.unit.path.localeCompare(b.unit.path));
  return out;
}

export async function unitPathsOf(ctx: GatewayContext, user: User): Promise<string[]> {
  return ((await membershipsOf(ctx, [user.id])).get(user.id) ?? []).map((m) => m.unit.path);
}

/** The units a unit admin administers, with those below them: their scope (accounts/scope.ts). */
export async function administeredUnitPathsOf(ctx: GatewayContext, user: User): Promise<string[]> {
  return ((await membershipsOf(ctx, [user.id])).get(user.id) ?? [])
    .filter((m) => m.administers)
    .map((m) => m.unit.path);
}

/**
 * Replaces a user's memberships; the first path becomes the primary unit (which sets the IM home domain).
 * A unit they stay in keeps whether they administer it. A new one: a local person administers every unit
 * they are in (as a unit admin); a directory's person only what its sync gives them from a unit-admin
 * group, so not a unit given here, which their next sync takes back anyway.
 */
export async function setMemberships(ctx: GatewayContext, user: User, paths: string[]): Promise<void> {
  const units = await unitsByPaths(ctx, paths);
  const { Membership, DirectoryAccount } = ctx.models;
  const before = await Membership.findAll({ where: { userId: user.id }, transaction: ctx.tx });
  const kept = new Map(before.map((m) => [m.unitId, m.administers]));
  const fromDirectory = (await DirectoryAccount.count({ where: { userId: user.id }, transaction: ctx.tx })) > 0;
  await Membership.destroy({ where: { userId: user.id }, transaction: ctx.tx });
  await Membership.bulkCreate(
    units.map((unit, i) => ({
      userId: user.id,
      unitId: unit.id,
      isPrimary: i === 0,
      administers: kept.get(unit.id) ?? !fromDirectory,
    })),
    { transaction: ctx.tx },
  );
}
