import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { nodesTold, recordChangedApp } from '../oidc/ended-access.ts';
import { revokeIssuedTo } from '../oidc/revoke-issued.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableApp } from './app-scope.ts';

/**
 * Deletes an app for good: its registry row, its OIDC client, and every grant, code and token issued to it
 * (stored payloads name their client as `"clientId":"…"`), so nothing it held keeps working: the chat
 * nodes are told before this returns, and refuse its bot and its tokens from then on.
 */
export async function deleteApp(ctx: GatewayContext, slug: string): Promise<{ slug: string; revoked: number }> {
  const deleted = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    const { OidcPayload } = ctx.models;
    const revoked = await revokeIssuedTo(ctx, app.clientId);
    await OidcPayload.destroy({ where: { model: 'Client', id: app.clientId }, transaction: ctx.tx });
    // Logouts still waiting for it (gateway/oidc/app-logouts.ts) must not reach a client given its id later.
    await ctx.models.AppLogout.destroy({ where: { clientId: app.clientId }, transaction: ctx.tx });
    await app.destroy({ transaction: ctx.tx });
    await recordChangedApp(ctx, app);
    await audit(ctx, {
      action: 'app.delete',
      target: app.slug,
      details: { clientId: app.clientId, name: app.name, revoked },
    });
    return { slug: app.slug, revoked };
  });
  await nodesTold(ctx);
  return deleted;
}
