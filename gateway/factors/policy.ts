import { z } from 'zod';
import { ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { adminScopeOf, isFullAdmin, isWithin, scopeCovers } from '../accounts/scope.ts';
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

/** A requirement in force, and whether a campus administrator (or the operator) set it, or a unit admin. */
export type ListedRequirement = Requirement & { setByCampus: boolean };

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

/**
 * Who may drop a requirement in force: a campus administrator (or the operator) any; a unit admin one a unit
 * admin set on their units. A campus administrator's stays until a campus administrator drops it, even on a
 * unit admin's units: otherwise the unit's helpdesk could undo the campus policy.
 */
export function mayDropRequirement(actor: Actor, requirement: ListedRequirement): boolean {
  return isFullAdmin(actor) || (!requirement.setByCampus && mayChangeRequirement(actor, requirement));
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

/**
 * Requires a second factor of every person with the role, or in the unit (and the units below it). A campus
 * administrator's requiring it makes it theirs, whoever set it first; a unit admin's requiring one already
 * in force changes nothing (a campus administrator's stays theirs).
 */
export async function requireSecondFactor(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  return inTransaction(ctx, async (ctx) => {
    const requirement = await checkRequirement(ctx, input);
    const setByCampus = isFullAdmin(ctx.actor);
    const existing = await ctx.models.FactorRequirement.findOne({ where: requirement, transaction: ctx.tx });
    if (!existing)
      await ctx.models.FactorRequirement.create(
        { ...requirement, setByCampus, createdAt: new Date() },
        { transaction: ctx.tx },
      );
    else if (setByCampus && !existing.setByCampus)
      await existing.update({ setByCampus: true }, { transaction: ctx.tx });
    await audit(ctx, { action: 'mfa.require', target: `${requirement.kind}:${requirement.value}` });
    return requirement;
  });
}

const notRequired = (requirement: Requirement) =>
  new NotFoundError(`A second factor is not required of ${requirement.kind} ${requirement.value}`);

/** The requirement in force the actor asks to drop, refused if there is none (404) or it is not theirs (403). */
async function requirementToDrop(ctx: GatewayContext, requirement: Requirement): Promise<Requirement> {
  assertMayChange(ctx, requirement);
  const row = await ctx.models.FactorRequirement.findOne({ where: requirement, transaction: ctx.tx });
  if (!row) throw notRequired(requirement);
  if (!mayDropRequirement(ctx.actor, { ...requirement, setByCampus: Boolean(row.setByCampus) }))
    throw new ForbiddenError(
      `Your campus administrators require a second factor of ${requirement.kind} ${requirement.value}: only they may drop that requirement. Nothing was changed.`,
    );
  return requirement;
}

/** A requirement asked to be dropped, checked before the page asks to confirm it: in force, and the actor's to drop. */
export function checkDroppable(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  return requirementToDrop(ctx, parse(input));
}

export async function dropSecondFactorRequirement(ctx: GatewayContext, input: unknown): Promise<Requirement> {
  const requirement = parse(input);
  assertMayChange(ctx, requirement);
  return inTransaction(ctx, async (ctx) => {
    // A unit admin deletes only a unit admin's requirement, in the delete itself: should a campus
    // administrator require it meanwhile, it stays.
    const where = isFullAdmin(ctx.actor) ? requirement : { ...requirement, setByCampus: false };
    const removed = await ctx.models.FactorRequirement.destroy({ where, transaction: ctx.tx });
    if (removed === 0) {
      await requirementToDrop(ctx, requirement); // says why: none in force, or a campus administrator's
      throw notRequired(requirement);
    }
    await audit(ctx, { action: 'mfa.unrequire', target: `${requirement.kind}:${requirement.value}` });
    return requirement;
  });
}

export async function listRequirements(ctx: GatewayContext): Promise<ListedRequirement[]> {
  const rows = await ctx.models.FactorRequirement.findAll({
    order: [
      ['kind', 'ASC'],
      ['value', 'ASC'],
    ],
    transaction: ctx.tx,
  });
  return rows.map(
    (r) =>
      ({ kind: r.kind as RequirementKind, value: r.value, setByCampus: Boolean(r.setByCampus) }) as ListedRequirement,
  );
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
