import { isWithin } from '../accounts/scope.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import type { GatewayContext } from '../context.ts';
import type { App, Role } from '../models/index.ts';

/** Who is looking: the person's units and roles decide what they see. */
export type Viewer = { unitPaths: string[]; roles: Role[] };

/**
 * Whether a person may see an app: it is enabled, the person belongs to its owner unit (if it has one),
 * to one of its visibility units (if any are listed), and holds one of its roles (if any are listed).
 */
export function canSee(
  viewer: Viewer,
  app: Pick<App, 'disabled' | 'ownerUnit' | 'visibilityUnits' | 'visibilityRoles'>,
): boolean {
  if (app.disabled) return false;
  const inUnit = (root: string) => viewer.unitPaths.some((p) => isWithin(p, root));
  if (app.ownerUnit && !inUnit(app.ownerUnit)) return false;
  if (app.visibilityUnits.length > 0 && !app.visibilityUnits.some(inUnit)) return false;
  if (app.visibilityRoles.length > 0 && !app.visibilityRoles.some((r) => viewer.roles.includes(r))) return false;
  return true;
}

export type WorkbenchEntry = {
  slug: string;
  name: string;
  icon: string | null;
  description: string | null;
  openUrl: string;
  /** The unit that owns the app (its path), none for a campus-wide app: the portal groups apps by it. */
  ownerUnit: string | null;
};

/**
 * The workbench: the apps a person may see, each with the URL that opens it (its home page, where it
 * signs the person in through the gateway without asking again). Apps without a home page (bots only)
 * have nothing to open and are not listed. The portal calls this directly; the gateway's API serves it.
 */
export async function workbenchFor(ctx: GatewayContext, userId: string): Promise<WorkbenchEntry[]> {
  const user = await ctx.models.User.findByPk(userId, { transaction: ctx.tx });
  if (!user || user.status !== 'active') return [];
  const viewer: Viewer = { unitPaths: await unitPathsOf(ctx, user), roles: user.roles };
  const apps = await ctx.models.App.findAll({
    where: { disabled: false },
    order: [['name', 'ASC']],
    transaction: ctx.tx,
  });
  return apps
    .filter((app) => app.homeUrl && canSee(viewer, app))
    .map((app) => ({
      slug: app.slug,
      name: app.name,
      icon: app.icon,
      description: app.description,
      openUrl: app.homeUrl!,
      ownerUnit: app.ownerUnit,
    }));
}
