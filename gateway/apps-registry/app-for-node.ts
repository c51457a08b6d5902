import { findByColumn } from '../../core/find-by-column.ts';
import type { Sealer } from '../../core/seal.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import type { GatewayContext } from '../context.ts';
import type { App } from '../models/index.ts';
import type { AppForNode } from '../../protocol/app-for-node.ts';
import { audiencesFor } from './app-access.ts';
import { canSee } from './visible-apps.ts';

/**
 * Answers a node's signed question about one app (its bot's slug); null when there is no such app, or
 * when the asking node may not host the app's bot. The answer carries the secret that signs the app's
 * card clicks, which the app takes as proof that a click came from a node: only a node that may hold
 * the bot's cards is given it, and such a node needs nothing else about the app.
 */
export async function appForNode(
  ctx: GatewayContext,
  slug: string,
  askingDomain: string,
  secrets: Sealer,
): Promise<AppForNode | null> {
  const app = await ctx.models.App.findOne({ where: { slug: slug.toLowerCase() }, transaction: ctx.tx });
  if (!app || !(await mayHostBot(ctx, app, askingDomain))) return null;
  return {
    slug: app.slug,
    name: app.name,
    clientId: app.clientId,
    botEnabled: app.botEnabled,
    disabled: app.disabled,
    interactionCallbackUrl: app.interactionCallbackUrl,
    callbackSecret: app.callbackSecretSealed ? secrets.open(app.callbackSecretSealed) : null,
    ...previousCallbackSecret(app, secrets),
  };
}

/**
 * The callback secret a rotation replaced, while its grace lasts (rotate-secrets.ts). One that no longer
 * opens (sealed under a gateway secret replaced since) is over: the nodes sign with the current one alone.
 */
function previousCallbackSecret(
  app: App,
  secrets: Sealer,
): Pick<AppForNode, 'previousCallbackSecret' | 'previousCallbackSecretUntil'> {
  const until = app.callbackSecretPreviousUntil;
  if (!app.callbackSecretPreviousSealed || !until || until.getTime() <= Date.now())
    return { previousCallbackSecret: null, previousCallbackSecretUntil: null };
  try {
    return {
      previousCallbackSecret: secrets.open(app.callbackSecretPreviousSealed),
      previousCallbackSecretUntil: until.toISOString(),
    };
  } catch {
    return { previousCallbackSecret: null, previousCallbackSecretUntil: null };
  }
}

/**
 * The slugs and names of the apps whose bots the asking node may host (appForNode's rule), disabled ones
 * too (they may be enabled again): what no webhook there may be named (node/webhooks/webhook-names.ts).
 */
export async function appNamesForNode(
  ctx: GatewayContext,
  askingDomain: string,
): Promise<{ slug: string; name: string }[]> {
  const apps = await ctx.models.App.findAll({
    attributes: ['slug', 'name', 'clientId'],
    order: [['slug', 'ASC']],
    transaction: ctx.tx,
  });
  const named: { slug: string; name: string }[] = [];
  for (const app of apps) if (await mayHostBot(ctx, app, askingDomain)) named.push({ slug: app.slug, name: app.name });
  return named;
}

/**
 * Whether an app is for the person `username` (an active account its workbench would show it to: canSee,
 * by its owner unit, visibility units and roles), asked by a node before the app's bot writes to them on its
 * own: a bot reaches the people its app serves, not everyone on the nodes its tokens name (a unit's app
 * gets tokens for the node serving its parent unit). Null when the asking node may not host the app's bot
 * (appForNode's rule), so that it learns nothing about the app; false for a username nobody active has.
 */
export async function appIsFor(
  ctx: GatewayContext,
  slug: string,
  askingDomain: string,
  username: string,
): Promise<boolean | null> {
  const app = await ctx.models.App.findOne({ where: { slug: slug.toLowerCase() }, transaction: ctx.tx });
  if (!app || !(await mayHostBot(ctx, app, askingDomain))) return null;
  const user = await findByColumn(ctx.models.User, 'username', username, ctx.tx);
  if (!user || user.status !== 'active') return false;
  return canSee({ unitPaths: await unitPathsOf(ctx, user), roles: user.roles }, app);
}

/** The nodes the bot's tokens may name (audiencesFor): those that may hold its cards. */
async function mayHostBot(ctx: GatewayContext, app: App, domainName: string): Promise<boolean> {
  return (await audiencesFor(ctx, app.clientId, null))?.has(domainName) ?? false;
}
