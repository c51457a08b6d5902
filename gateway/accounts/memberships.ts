import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { OrgUnit, User } from '../models/index.ts';
import { unitsByPaths } from './units.ts';
import { remember } from '../request-memo.ts';

export type UnitMembership = { unit: OrgUnit; primary: boolean };

/** The units of several users at once, primary unit first. */
export function membershipsOf(ctx: GatewayContext, userIds: string[]): Promise<Map<string, UnitMembership[]>> {
  return remember(ctx, `memberships:${userIds.join(',')}`, () => readMemberships(ctx, userIds));
}

async function readMemberships(ctx: GatewayContext, userIds: string[]): Promise<Map<string, UnitMembership[]>> {
  const { Membership, OrgUnit } = ctx.models;
  const out = new Map<string, UnitMembership[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return out;
  const rows = await Membership.findAll({ where: { userId: { [Op.in]: userIds } }, transaction: ctx.tx });
  const units = await OrgUnit.findAll({
    where: { id: { [Op.in]: [...new Set(rows.map((r) => r.unitId))] } },
    transaction: ctx.tx,
  });
  const byId = new Map(units.map((u) => [u.id, u]));
  for (const row of rows) {
    const unit = byId.get(row.unitId);
    if (unit) out.get(row.userId)!.push({ unit, primary: row.isPrimary });
  }
  for (const list of out.values())
    list.sort((a, b) => Number(b.primary) - Number(a.primary) || a.unit.path.localeCompare(b.unit.path));
  return out;
}

export async function unitPathsOf(ctx: GatewayContext, user: User): Promise<string[]> {
  return ((await membershipsOf(ctx, [user.id])).get(user.id) ?? []).map((m) => m.unit.path);
}

/** Replaces a user's memberships; the first path becomes the primary unit (which sets the IM home domain). */
export async function setMemberships(ctx: GatewayContext, user: User, paths: string[]): Promise<void> {
  const units = await unitsByPaths(ctx, paths);
  const { Membership } = ctx.models;
  await Membership.destroy({ where: { userId: user.id }, transaction: ctx.tx });
  await Membership.bulkCreate(
    units.map((unit, i) => ({ userId: user.id, unitId: unit.id, isPrimary: i === 0 })),
    { transaction: ctx.tx },
  );
}
