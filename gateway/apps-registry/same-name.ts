import { isWithin } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';
import type { App } from '../models/index.ts';
import { mayManage } from './app-scope.ts';

/** Whom an app is shown to, as its settings say: its owner unit, its visibility units and roles. */
export type Audience = Pick<App, 'ownerUnit' | 'visibilityUnits' | 'visibilityRoles'>;

/** The units whose people see the app (visible-apps.ts: canSee); null for everyone. */
const unitsOf = (a: Audience): string[] | null =>
  a.visibilityUnits.length > 0 ? a.visibilityUnits : a.ownerUnit ? [a.ownerUnit] : null;

/**
 * Whether two apps are shown to some of the same people by their settings: one's units lie within the
 * other's (or either is for everyone), and they have a role in common (or either takes any role).
 */
export function audiencesOverlap(a: Audience, b: Audience): boolean {
  const [ua, ub] = [unitsOf(a), unitsOf(b)];
  const units = !ua || !ub || ua.some((x) => ub.some((y) => isWithin(x, y) || isWithin(y, x)));
  const [ra, rb] = [a.visibilityRoles, b.visibilityRoles];
  return units && (ra.length === 0 || rb.length === 0 || ra.some((r) => rb.includes(r)));
}

/** Names as a person tells them apart in a workbench: not by case, accents' encoding or spacing. */
const said = (name: string) => name.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * Two apps of one name in the same workbench cannot be told apart, so a name is refused when another app
 * has it and is shown to some of the same people (a disabled one too: it may be enabled again). Apps for
 * units apart, such as eng's and arts' "Library", may share it. The other app is named only to whoever
 * may manage it.
 */
export async function sameNameProblem(
  ctx: GatewayContext,
  name: string,
  audience: Audience,
  exceptId?: string,
): Promise<string | null> {
  const apps = await ctx.models.App.findAll({
    attributes: ['id', 'slug', 'name', 'ownerUnit', 'visibilityUnits', 'visibilityRoles'],
    order: [['slug', 'ASC']],
    transaction: ctx.tx,
  });
  const clash = apps.find((a) => a.id !== exceptId && said(a.name) === said(name) && audiencesOverlap(a, audience));
  if (!clash) return null;
  const which = mayManage(ctx, clash) ? `app ${clash.slug}` : 'another app';
  return `${which} has this name and is shown to some of the same people; choose another name`;
}
