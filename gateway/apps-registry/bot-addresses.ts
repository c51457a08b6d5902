import type { GatewayContext } from '../context.ts';
import type { App } from '../models/index.ts';
import { audiencesFor } from './app-access.ts';

/**
 * An app's bot's addresses, `slug@domain` for each chat domain whose node may host it (the nodes its
 * tokens may name, which are also those the gateway tells about the app: app-for-node.ts), by domain
 * name; none while no node serves the units it is for.
 */
export async function botAddresses(ctx: GatewayContext, app: Pick<App, 'slug' | 'clientId'>): Promise<string[]> {
  const domains = (await audiencesFor(ctx, app.clientId, null)) ?? new Set<string>();
  return [...domains].sort().map((domain) => `${app.slug}@${domain}`);
}
