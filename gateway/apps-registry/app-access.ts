import { Op, QueryTypes } from 'sequelize';
import { like, prefixPattern } from '../../core/like.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import { isWithin } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';
import { domainsServing } from '../domains/domains.ts';
import type { User } from '../models/index.ts';
import { userById } from '../accounts/find-user.ts';
import { appOfClient } from './client-gate.ts';
import { canSee } from './visible-apps.ts';
import { remember } from '../request-memo.ts';

/**
 * Who may sign in to an app, and which domain nodes its tokens may name. The gateway's own clients (the
 * portal, the console) have no registry row and are bound by nothing here.
 */

async function activeUser(ctx: GatewayContext, accountId: string): Promise<User | null> {
  const user = await userById(ctx, accountId);
  return user && user.status === 'active' ? user : null;
}

/** "College of Engineering (campus/eng)" for the paths given, as the refusal page names them. */
async function unitNames(ctx: GatewayContext, paths: string[]): Promise<string> {
  const units = await ctx.models.OrgUnit.findAll({ where: { path: { [Op.in]: paths } }, transaction: ctx.tx });
  const nameOf = new Map(units.map((u) => [u.path, u.name]));
  return paths.map((p) => (nameOf.has(p) ? `${nameOf.get(p)} (${p})` : p)).join(', ');
}

/**
 * Why this person may not sign in to the client's app, in words for the refusal page; null when they may.
 * The rule is the workbench's (canSee): the app's owner unit, its visibility units and roles. An app a
 * person is not shown is also not one they can be signed in to by a link.
 */
export async function signInRefusal(ctx: GatewayContext, clientId: string, accountId: string): Promise<string | null> {
  const app = await appOfClient(ctx, clientId);
  if (!app) return null;
  const user = await activeUser(ctx, accountId);
  if (!user) return `${app.name} is not available to this account.`;
  const unitPaths = await unitPathsOf(ctx, user);
  if (canSee({ unitPaths, roles: user.roles }, app)) return null;
  const inUnit = (root: string) => unitPaths.some((p) => isWithin(p, root));
  if (app.ownerUnit && !inUnit(app.ownerUnit))
    return `${app.name} is for people of ${await unitNames(ctx, [app.ownerUnit])}, and you are not one of them.`;
  if (app.visibilityUnits.length > 0 && !app.visibilityUnits.some(inUnit)) {
    return `${app.name} is for people of ${await unitNames(ctx, app.visibilityUnits)}, and you are not one of them.`;
  }
  return `${app.name} is only for people with the role ${app.visibilityRoles.join(' or ')}, and you have none of them.`;
}

/**
 * The domain nodes (by name) an app may get tokens for: on a person's behalf, the nodes serving that
 * person's units (a node they do not belong to holds nothing of theirs), and for an app owned by a unit
 * only their units inside it (an Engineering app does not read what a person holds as a member of Arts);
 * as a bot (no person), the nodes serving its owner unit or units inside it, and for a campus-wide app's
 * bot every node that serves a unit of the campus, never a partner organization's domain (which serves
 * none: nothing of the campus's apps lives there). `null` means any node: the gateway's own clients.
 */
export async function audiencesFor(
  ctx: GatewayContext,
  clientId: string,
  accountId: string | null,
): Promise<Set<string> | null> {
  const app = await appOfClient(ctx, clientId);
  if (!accountId) {
    if (!app) return null;
    const { ownerUnit } = app;
    if (!ownerUnit) return named(await campusDomains(ctx));
    const inside = await ctx.models.OrgUnit.findAll({
      where: { [Op.or]: [{ path: ownerUnit }, { path: like(ctx.sequelize, prefixPattern(`${ownerUnit}/`)) }] },
      attributes: ['path'],
      transaction: ctx.tx,
    });
    return named(
      await domainsServing(
        ctx,
        inside.map((u) => u.path),
      ),
    );
  }
  const user = await activeUser(ctx, accountId);
  if (!user) return new Set();
  const unitPaths = await unitPathsOf(ctx, user);
  const owner = app?.ownerUnit;
  return named(await domainsServing(ctx, owner ? unitPaths.filter((p) => isWithin(p, owner)) : unitPaths));
}

/**
 * The nodes that serve some unit of the campus (a partner organization's serve none), asked on every
 * token request of a campus-wide app's bot and every signed request to the campus-only federation
 * endpoints (campus-node.ts): one statement, kept between requests until a domain or its units change
 * (shared-reads.ts).
 */
export function campusDomains(ctx: GatewayContext): Promise<string[]> {
  return remember(ctx, 'campus-domains', async () => {
    const rows = await ctx.sequelize.query<{ name: string }>(
      'SELECT DISTINCT d.name AS name FROM domains d JOIN domain_units l ON l.domain_id = d.id',
      { type: QueryTypes.SELECT, transaction: ctx.tx },
    );
    return rows.map((r) => r.name);
  });
}

const named = (domains: (string | null)[]) => new Set(domains.filter((d): d is string => d !== null));
