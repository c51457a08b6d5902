import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableApp } from './app-scope.ts';
import { loadClient } from './client-metadata.ts';
import { presentApp, type PresentedApp } from './present-app.ts';

/**
 * A disabled app disappears from every workbench, its OIDC client is no longer found by the provider (no
 * sign-in, no refresh, no bot token), and nodes stop taking its bot's messages and sending it card clicks.
 * Enabling brings all of that back with the same secrets.
 */
export async function setAppDisabled(ctx: GatewayContext, slug: string, disabled: boolean): Promise<PresentedApp> {
  return inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    if (app.disabled !== disabled) {
      app.disabled = disabled;
      await app.save({ transaction: ctx.tx });
      await audit(ctx, { action: disabled ? 'app.disable' : 'app.enable', target: app.slug });
    }
    return presentApp(app, await loadClient(ctx, app.clientId));
  });
}

export const disableApp = (ctx: GatewayContext, slug: string) => setAppDisabled(ctx, slug, true);
export const enableApp = (ctx: GatewayContext, slug: string) => setAppDisabled(ctx, slug, false);
