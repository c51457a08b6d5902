import type { Sealer } from '../../core/seal.ts';
import type { GatewayContext } from '../context.ts';
import type { App } from '../models/index.ts';
import type { AppForNode } from '../../protocol/app-for-node.ts';
import { audiencesFor } from './app-access.ts';

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
  };
}

/** The nodes the bot's tokens may name (audiencesFor): those that may hold its cards. */
async function mayHostBot(ctx: GatewayContext, app: App, domainName: string): Promise<boolean> {
  return (await audiencesFor(ctx, app.clientId, null))?.has(domainName) ?? false;
}
