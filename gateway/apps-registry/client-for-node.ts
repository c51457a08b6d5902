import type { GatewayContext } from '../context.ts';
import type { ClientForNode } from '../../protocol/app-for-node.ts';
import { loadClient } from './client-metadata.ts';

/**
 * What a campus node is told of the client a person's token was issued to: whether its tokens may still be
 * used (an administrator may have disabled or deleted its app), whether it is first-party (the gateway's
 * own clients, the portal and the console, or an app an administrator marked so: the nodes let only these
 * search the people directory by name), and the registered app it is, if any (a webhook made with its
 * token is shown as made by that app, and ends with the person's access to it).
 */
export async function clientForNode(ctx: GatewayContext, clientId: string): Promise<ClientForNode> {
  const app = await ctx.models.App.findOne({ where: { clientId }, transaction: ctx.tx });
  if (app) {
    return {
      clientId,
      active: !app.disabled,
      firstParty: app.firstParty,
      app: { slug: app.slug, name: app.name },
    };
  }
  // The gateway's own clients (the portal, the console) are OIDC clients only.
  const client = await loadClient(ctx, clientId);
  return { clientId, active: client !== null, firstParty: client?.first_party === true, app: null };
}
