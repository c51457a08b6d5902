import { z } from 'zod';
import { ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { adminScopeOf, isWithin, scopeCovers } from '../accounts/scope.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import { audit } from '../audit.ts';
import type { Actor, GatewayContext } from '../context.ts';
import { ROLES, type User } from '../models/index.ts';
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

/**
 * Who may change a requirement: a campus administrator (or the operator) any; a unit admin one on a unit
 * they administer or below, which covers only their own people. A role and a unit outside theirs (another
 * college, or a parent unit of theirs) reach people they do not administer: those stay campus-wide.
 */
export function mayChangeRequirement(actor: Actor, requirement: Requirement): boolean {
  const scope = adminScopeOf(actor);
  if (scope.all) return true;
  return requirement.kind === 'unit' && scopeCovers(scope, requirement.value);
}

function assertMayChange(ctx: GatewayContext, requirement: Requirement): void {
  if (mayChangeRequirement(ctx.actor, requirement)) return;
  if (requirement.kind === 'role')
    throw new ForbiddenError(
      'Only campus administrators may change the second-factor policy of a role: roles are campus-wide. Nothing was changed.',
    );
  const scope = adminScopeOf(ctx.actor);
  const roots = scope.all ? [] : scope.roots;
  if (roots.length === 0) throw new ForbiddenError('Only campus administrators may change the second-factor policy');
  throw new ForbiddenError(
    `Unit ${requirement.value} is not one of the units you administer (${roots.join(', ')} and below): its second-factor policy is set by your campus administrators. Nothing was changed.`,
  );
}

/**
 * A requirement as asked for, checked: one the actor may change (refused before the unit is looked up, so
 * a refusal says nothing of units outside theirs), naming a known role, or a unit that exists.
 */
export async function checkRequirement(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  const requirement = parse(input);
  assertMayChange(ctx, requirement);
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
  const requirement = parse(input);
  assertMayChange(ctx, requirement);
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
