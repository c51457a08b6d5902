import type { Sealer } from '../../core/seal.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { nodesTold, recordChangedApp } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { assertMayBeFirstParty, findManageableApp } from './app-scope.ts';
import { loadClient, saveClient, sealedClientSecret } from './client-metadata.ts';
import { newSecret } from './secrets.ts';

/**
 * A new client secret, shown once; the old one stops working at once, and so do the bot tokens issued with
 * it: the chat nodes are told to refuse the app's own tokens issued until now (an ended-access entry whose
 * subject is the client, as a bot token's `sub` is), before this returns where a gateway runs in this
 * process. People's tokens issued to the app were not issued with the secret alone and go on.
 */
export async function rotateClientSecret(
  ctx: GatewayContext,
  slug: string,
): Promise<{ slug: string; clientId: string; clientSecret: string }> {
  const rotated = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    // A first-party app's secret would sign anyone in silently: a campus administrator's to hand out.
    assertMayBeFirstParty(ctx, app, app.firstParty);
    const client = await loadClient(ctx, app.clientId);
    if (!client) throw new Error(`app ${app.slug} has no OIDC client`);
    const clientSecret = newSecret();
    await saveClient(ctx, { ...client, client_secret_sealed: sealedClientSecret(ctx, clientSecret) });
    await ctx.models.EndedAccess.create(
      { kind: 'sub', subject: app.clientId, clientId: app.clientId, endedAt: new Date() },
      { transaction: ctx.tx },
    );
    await audit(ctx, { action: 'app.rotate_client_secret', target: app.slug });
    return { slug: app.slug, clientId: app.clientId, clientSecret };
  });
  await nodesTold(ctx);
  return rotated;
}

/**
 * A new secret for the app's interaction callbacks, shown once. The chat nodes are told to drop the old
 * one before this returns (a node the gateway cannot reach keeps it until its next fetch, or for
 * REGISTRY_TTL_SECONDS). A first-party app's is a campus administrator's too: whoever holds it can forge a
 * click to the app, and rotating it stops the app's real callbacks.
 */
export async function rotateCallbackSecret(
  ctx: GatewayContext,
  slug: string,
  secrets: Sealer,
): Promise<{ slug: string; callbackSecret: string }> {
  const rotated = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    assertMayBeFirstParty(ctx, app, app.firstParty);
    const callbackSecret = newSecret();
    app.callbackSecretSealed = secrets.seal(callbackSecret);
    await app.save({ transaction: ctx.tx });
    await recordChangedApp(ctx, app);
    await audit(ctx, { action: 'app.rotate_callback_secret', target: app.slug });
    return { slug: app.slug, callbackSecret };
  });
  await nodesTold(ctx);
  return rotated;
}
