import type { Sealer } from '../../core/seal.ts';
import type { GatewayContext } from '../context.ts';
import type { AppForNode } from '../../protocol/app-for-node.ts';

/** Answers a node's signed question about one app (its bot's slug); null when there is no such app. */
export async function appForNode(ctx: GatewayContext, slug: string, secrets: Sealer): Promise<AppForNode | null> {
  const app = await ctx.models.App.findOne({ where: { slug: slug.toLowerCase() }, transaction: ctx.tx });
  if (!app) return null;
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
