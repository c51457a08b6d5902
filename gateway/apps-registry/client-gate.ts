import type { GatewayContext } from '../context.ts';
import type { App, GatewayModels } from '../models/index.ts';
import { remember } from '../request-memo.ts';
import { findByColumn } from '../../core/find-by-column.ts';

/**
 * The provider asks this before using a client: a client that belongs to a disabled app is not found,
 * so nothing can sign in, refresh or get tokens with it. Clients with no app row (the console) pass.
 */
export async function clientUsable(ctx: GatewayContext, clientId: string): Promise<boolean> {
  const app = await appOfClient(ctx, clientId);
  return !app?.disabled;
}

/** The registry's app behind a client; null for the gateway's own clients. */
export function appOfClient(ctx: GatewayContext, clientId: string): Promise<App | null> {
  return remember(ctx, `app:${clientId}`, () => findByColumn(ctx.models.App, 'clientId', clientId, ctx.tx));
}

/** What a bot's client-credentials token carries so a node can name it; undefined for a client without an enabled bot. */
export async function botClaims(
  models: GatewayModels,
  clientId: string,
): Promise<{ app_slug: string; app_name: string; bot: true } | undefined> {
  const app = await models.App.findOne({ where: { clientId } });
  if (!app || app.disabled || !app.botEnabled) return undefined;
  return { app_slug: app.slug, app_name: app.name, bot: true };
}
