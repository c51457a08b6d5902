import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { isWithin } from '../accounts/scope.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { ROLES, type User } from '../models/index.ts';
import { ForbiddenError } from '../../core/errors.ts';
import { isFullAdmin } from '../accounts/scope.ts';
import { inTransaction } from '../transaction.ts';
import type { RequirementKind } from '../models/factors.ts';

export const requirementSchema = z.union([
  z.object({ kind: z.literal('role'), value: z.enum(ROLES) }),
  z.object({ kind: z.literal('unit'), value: z.string().trim().min(1).max(255) }),
]);
export type Requirement = z.infer<typeof requirementSchema>;

function parse(input: unknown): Requirement {
  const parsed = requirementSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError(`A requirement names a role (${ROLES.join(', ')}) or a unit path`, {
      value: 'unknown role or unit',
    });
  return parsed.data;
}

// The policy covers everyone, so only a full administrator (or the operator) may change it.
function assertMayChange(ctx: GatewayContext): void {
  if (!isFullAdmin(ctx.actor))
    throw new ForbiddenError('Only campus administrators may change the second-factor policy');
}

/** A requirement as asked for, checked: a known role, or a unit that exists. */
export async function checkRequirement(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  const requirement = parse(input);
  if (
    requirement.kind === 'unit' &&
    !(await ctx.models.OrgUnit.findOne({ where: { path: requirement.value }, transaction: ctx.tx }))
  ) {
    throw new ValidationError(`No unit ${requirement.value}`, { unit: 'unknown unit' });
  }
  return requirement;
}

/** Requires a second factor of every person with the role, or in the unit (and the units below it). */
export async function requireSecondFactor(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  assertMayChange(ctx);
  return inTransaction(ctx, async (ctx) => {
    const requirement = await checkRequirement(ctx, input);
    const existing = await ctx.models.FactorRequirement.findOne({ where: requirement, transaction: ctx.tx });
    if (!existing)
      await ctx.models.FactorRequirement.create({ ...requirement, createdAt: new Date() }, { transaction: ctx.tx });
    await audit(ctx, { action: 'mfa.require', target: `${requirement.kind}:${requirement.value}` });
    return requirement;
  });
}

export async function dropSecondFactorRequirement(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  assertMayChange(ctx);
  const requirement = parse(input);
  return inTransaction(ctx, async (ctx) => {
    const removed = await ctx.models.FactorRequirement.destroy({ where: requirement, transaction: ctx.tx });
    if (removed === 0)
      throw new NotFoundError(`A second factor is not required of ${requirement.kind} ${requirement.value}`);
    await audit(ctx, { action: 'mfa.unrequire', target: `${requirement.kind}:${requirement.value}` });
    return requirement;
  });
}

export async function listRequirements(ctx: GatewayContext): Promise<Requirement[]> {
  const rows = await ctx.models.FactorRequirement.findAll({
    order: [
      ['kind', 'ASC'],
      ['value', 'ASC'],
    ],
    transaction: ctx.tx,
  });
  return rows.map((r) => ({ kind: r.kind as RequirementKind, value: r.value }) as Requirement);
}

/** Whether the policy requires a second factor of this person: one of their roles, or one of their units. */
export async function secondFactorRequired(ctx: GatewayContext, user: User): Promise<boolean> {
  const requirements = await listRequirements(ctx);
  if (requirements.length === 0) return false;
  if (requirements.some((r) => r.kind === 'role' && user.roles.includes(r.value))) return true;
  const units = requirements.filter((r) => r.kind === 'unit').map((r) => r.value);
  if (units.length === 0) return false;
  const paths = await unitPathsOf(ctx, user);
  return paths.some((path) => units.some((unit) => isWithin(path, unit)));
}
