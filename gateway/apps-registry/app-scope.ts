import { ForbiddenError, NotFoundError, ValidationError, type FieldErrors } from '../../core/errors.ts';
import { adminScopeOf, isFullAdmin, isWithin, scopeCovers } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';
import type { App } from '../models/index.ts';

/**
 * Full administrators manage every app; a unit admin manages the apps owned by a unit in their part of
 * the tree. A campus-wide app (no owner unit) is a full administrator's.
 */
export function mayManage(ctx: GatewayContext, app: Pick<App, 'ownerUnit'>): boolean {
  const scope = adminScopeOf(ctx.actor);
  if (scope.all) return true;
  return app.ownerUnit !== null && scopeCovers(scope, app.ownerUnit);
}

/**
 * The owner unit a registration or an edit ends up with. A unit admin must keep the app inside their
 * units (and gets their one unit by default); only a full administrator may make it campus-wide.
 */
export function resolveOwnerUnit(ctx: GatewayContext, requested: string | null | undefined): string | null {
  const scope = adminScopeOf(ctx.actor);
  if (scope.all) return requested ?? null;
  if (scope.roots.length === 0) throw new ForbiddenError('Only administrators and unit administrators manage apps');
  if (!requested) {
    if (scope.roots.length === 1) return scope.roots[0]!;
    throw new ValidationError('Choose the unit that owns the app', { ownerUnit: 'choose one of your units' });
  }
  if (!scopeCovers(scope, requested))
    throw new ForbiddenError(`You may register apps only for your own units, not ${requested}`);
  return requested;
}

/**
 * A first-party app signs people in and gets their tokens without asking them, so only a campus
 * administrator may have one: a unit admin can neither mark an app first-party nor keep the flag while
 * changing such an app (its redirect URIs or its secret would let them sign anyone in silently). To edit a
 * first-party app a unit admin must clear the flag in the same change, or ask a campus administrator.
 */
export function assertMayBeFirstParty(
  ctx: GatewayContext,
  app: { name: string; firstParty: boolean } | null,
  firstParty: boolean,
): void {
  if (!firstParty || isFullAdmin(ctx.actor)) return;
  if (app?.firstParty) {
    throw new ForbiddenError(
      `${app.name} is first-party, which only campus administrators may keep; clear its first-party flag to change it, or ask a campus administrator`,
    );
  }
  throw new ForbiddenError('Only campus administrators may mark an app first-party');
}

/**
 * What is wrong with the units an app names, per field: each must exist, and an owned app is shown only
 * within its owner's part of the tree. Every problem at once: an unknown unit does not hide one outside.
 */
export async function unitProblems(
  ctx: GatewayContext,
  ownerUnit: string | null,
  visibilityUnits: string[],
): Promise<FieldErrors> {
  const wanted = [...new Set([...(ownerUnit ? [ownerUnit] : []), ...visibilityUnits])];
  const known = new Set(
    (await ctx.models.OrgUnit.findAll({ where: { path: wanted }, attributes: ['path'], transaction: ctx.tx })).map(
      (u) => u.path,
    ),
  );
  const fields: FieldErrors = {};
  if (ownerUnit && !known.has(ownerUnit)) fields.ownerUnit = `unknown unit ${ownerUnit}`;
  const unknown = visibilityUnits.filter((p) => !known.has(p));
  // A unit admin is told of units not theirs as such: "the owner unit" is one they did not choose.
  const scope = adminScopeOf(ctx.actor);
  const notYours = visibilityUnits.filter((p) => known.has(p) && !scopeCovers(scope, p));
  const outside =
    ownerUnit && known.has(ownerUnit)
      ? visibilityUnits.filter((p) => known.has(p) && !notYours.includes(p) && !isWithin(p, ownerUnit))
      : [];
  const problems = [
    ...(notYours.length > 0
      ? [
          `You may make apps visible only to your own units: ${notYours.join(', ')} ${notYours.length === 1 ? 'is not one' : 'are not'} of them`,
        ]
      : []),
    ...(unknown.length > 0 ? [`unknown unit ${unknown.join(', ')}`] : []),
    ...(outside.length > 0 ? [`must lie within the owner unit ${ownerUnit}: ${outside.join(', ')}`] : []),
  ];
  if (problems.length > 0) fields['visibility.units'] = problems.join('; ');
  return fields;
}

/** unitProblems, as a refusal. */
export async function checkUnits(
  ctx: GatewayContext,
  ownerUnit: string | null,
  visibilityUnits: string[],
): Promise<void> {
  const fields = await unitProblems(ctx, ownerUnit, visibilityUnits);
  if (Object.keys(fields).length > 0) throw new ValidationError(unitsRefusal(fields), fields);
}

const UNIT_FIELDS: Record<string, string> = { ownerUnit: 'Owner unit', 'visibility.units': 'Visible to' };

/** Whether every problem of a form is one unitProblems found, which unitsRefusal can say in full. */
export const onlyUnitProblems = (fields: FieldErrors): boolean =>
  Object.keys(fields).length > 0 && Object.keys(fields).every((field) => field in UNIT_FIELDS);

/** unitProblems in one sentence, each with the field it concerns (unless it says so itself). */
export function unitsRefusal(fields: FieldErrors): string {
  return Object.entries(fields)
    .map(([field, problem]) => (problem.startsWith('You ') ? problem : `${UNIT_FIELDS[field] ?? field}: ${problem}`))
    .join('; ');
}

/** An app by slug that the actor may manage; outside their scope it is "not found", as for users. */
export async function findManageableApp(ctx: GatewayContext, slug: string): Promise<App> {
  const app = await ctx.models.App.findOne({ where: { slug: String(slug).toLowerCase() }, transaction: ctx.tx });
  if (!app || !mayManage(ctx, app)) throw new NotFoundError(`No app ${slug}`);
  return app;
}
