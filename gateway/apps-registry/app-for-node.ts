import type { Sealer } from '../../core/seal.ts';
import type { GatewayContext } from '../context.ts';

/** What a domain node needs to know of an app to run its bot and deliver its card clicks. */
export type AppForNode = {
  slug: string;
  name: string;
  clientId: string;
  botEnabled: boolean;
  disabled: boolean;
  interactionCallbackUrl: string | null;
  callbackSecret: string | null;
};

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
