import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { nodesTold, recordChangedApp } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableApp } from './app-scope.ts';
import { loadClient } from './client-metadata.ts';
import { presentApp, type PresentedApp } from './present-app.ts';

/**
 * A disabled app disappears from every workbench, its OIDC client is no longer found by the provider (no
 * sign-in, no refresh, no bot token), and nodes stop taking its bot's messages and sending it card clicks.
 * Enabling brings all of that back with the same secrets. The chat nodes are told before this returns
 * (where a gateway runs in this process), so that either holds there at once rather than once what they
 * keep of the app ages out. `untold` names the domains whose node could not be told now (they learn it
 * at their next fetch); null where this process does not tell them (the CLI; see nodesTold).
 */
export async function changeAppStatus(
  ctx: GatewayContext,
  slug: string,
  disabled: boolean,
): Promise<{ app: PresentedApp; changed: boolean; untold: string[] | null }> {
  const { app, changed } = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    const changed = app.disabled !== disabled;
    if (changed) {
      app.disabled = disabled;
      await app.save({ transaction: ctx.tx });
      await recordChangedApp(ctx, app);
      await audit(ctx, { action: disabled ? 'app.disable' : 'app.enable', target: app.slug });
    }
    return { app: presentApp(app, await loadClient(ctx, app.clientId)), changed };
  });
  return { app, changed, untold: changed ? await nodesTold(ctx) : [] };
}

export async function setAppDisabled(ctx: GatewayContext, slug: string, disabled: boolean): Promise<PresentedApp> {
  return (await changeAppStatus(ctx, slug, disabled)).app;
}

export const disableApp = (ctx: GatewayContext, slug: string) => setAppDisabled(ctx, slug, true);
export const enableApp = (ctx: GatewayContext, slug: string) => setAppDisabled(ctx, slug, false);
