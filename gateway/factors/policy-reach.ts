import { Op } from 'sequelize';
import { like, prefixPattern } from '../../core/like.ts';
import { withRole } from '../accounts/with-role.ts';
import type { GatewayContext } from '../context.ts';
import type { Role } from '../models/index.ts';
import { listRequirements, type Requirement } from './policy.ts';

/**
 * Whom a new requirement reaches, to tell an administrator before they add it: the active people it
 * covers, how many of them another requirement covers already, and how many of the rest have no second
 * factor, who must set one up at their next sign-in.
 */
export type AddingReach = { people: number; alreadyCovered: number; toSetUp: number };

/** Whom dropping a requirement releases: of the active people it covers, those no other one covers. */
export type DroppingReach = { people: number; released: number };

const same = (a: Requirement, b: Requirement) => a.kind === b.kind && a.value === b.value;

async function activePeopleWithRole(ctx: GatewayContext, role: Role): Promise<Set<string>> {
  const rows = await ctx.models.User.findAll({
    where: { [Op.and]: [{ status: 'active' }, withRole(ctx.sequelize, role)] },
    attributes: ['id'],
    transaction: ctx.tx,
  });
  return new Set(rows.map((row) => row.id));
}

async function activePeopleInUnit(ctx: GatewayContext, path: string): Promise<Set<string>> {
  const { OrgUnit, Membership, User } = ctx.models;
  const units = await OrgUnit.findAll({
    where: { [Op.or]: [{ path }, { path: like(ctx.sequelize, prefixPattern(`${path}/`)) }] },
    attributes: ['id'],
    transaction: ctx.tx,
  });
  if (units.length === 0) return new Set();
  const members = await Membership.findAll({
    where: { unitId: { [Op.in]: units.map((u) => u.id) } },
    attributes: ['userId'],
    transaction: ctx.tx,
  });
  const disabled = await User.findAll({ where: { status: 'disabled' }, attributes: ['id'], transaction: ctx.tx });
  const out = new Set(disabled.map((u) => u.id));
  return new Set(members.map((m) => m.userId).filter((id) => !out.has(id)));
}

/** The active people a requirement covers: everyone with the role, or in the unit or a unit below it. */
function coveredBy(ctx: GatewayContext, requirement: Requirement): Promise<Set<string>> {
  return requirement.kind === 'role'
    ? activePeopleWithRole(ctx, requirement.value)
    : activePeopleInUnit(ctx, requirement.value);
}

/** Everyone the policy's other requirements cover. */
async function coveredByOthers(ctx: GatewayContext, requirement: Requirement): Promise<Set<string>> {
  const others = (await listRequirements(ctx)).filter((r) => !same(r, requirement));
  const covered = new Set<string>();
  for (const other of others) for (const id of await coveredBy(ctx, other)) covered.add(id);
  return covered;
}

/** Everyone with an authenticator app or a passkey. */
async function peopleWithFactor(ctx: GatewayContext): Promise<Set<string>> {
  const [apps, passkeys] = await Promise.all([
    ctx.models.TotpFactor.findAll({
      where: { confirmedAt: { [Op.ne]: null } },
      attributes: ['userId'],
      transaction: ctx.tx,
    }),
    ctx.models.Passkey.findAll({ attributes: ['userId'], transaction: ctx.tx }),
  ]);
  return new Set([...apps, ...passkeys].map((row) => row.userId));
}

export async function reachOfAdding(ctx: GatewayContext, requirement: Requirement): Promise<AddingReach> {
  const covered = await coveredBy(ctx, requirement);
  const others = await coveredByOthers(ctx, requirement);
  const withFactor = await peopleWithFactor(ctx);
  const newly = [...covered].filter((id) => !others.has(id));
  return {
    people: covered.size,
    alreadyCovered: covered.size - newly.length,
    toSetUp: newly.filter((id) => !withFactor.has(id)).length,
  };
}

export async function reachOfDropping(ctx: GatewayContext, requirement: Requirement): Promise<DroppingReach> {
  const covered = await coveredBy(ctx, requirement);
  const others = await coveredByOthers(ctx, requirement);
  return { people: covered.size, released: [...covered].filter((id) => !others.has(id)).length };
}
