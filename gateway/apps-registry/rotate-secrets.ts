import type { Sealer } from '../../core/seal.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { nodesTold, recordChangedApp } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { assertMayBeFirstParty, findManageableApp } from './app-scope.ts';
import { loadClient, saveClient, sealedClientSecret, type ClientMetadata } from './client-metadata.ts';
import { graceEnd, graceSecondsSchema, stillInGrace } from './grace.ts';
import { newSecret } from './secrets.ts';

/**
 * How long the secret being replaced keeps working beside the new one, in seconds (grace.ts): 0, the
 * default here, ends it at once, as after a leak; the CLI, the console and the admin API offer a day
 * (DEFAULT_GRACE_SECONDS) unless told otherwise.
 */
export type RotateOptions = { graceSeconds?: number };

/**
 * What a rotation did to the secrets before the new one: until when the previous one keeps working (null:
 * none does), and whether an earlier rotation's grace was kept, so that the secret that rotation made (and
 * this one replaced) stopped at once.
 */
export type Rotated = { previousSecretWorksUntil: string | null; graceKept: boolean };

/**
 * A new client secret, shown once. With a grace, the old one goes on working beside it until the grace
 * ends, for the token endpoint, introspection and revocation alike (gateway/oidc/previous-client-secret.ts),
 * so the running app signs people in and gets bot tokens until it is redeployed with the new one; its bot
 * tokens got with the old one last their own short life.
 *
 * A rotation with a grace within the grace of another (the secret shown once lost, say) keeps that grace as
 * it was: the secret the running app most likely still has is the previous one, which the console promised
 * until then, while the current one was shown once and perhaps never deployed. So the current one stops at
 * once and the previous one keeps its end (graceKept). Whether the current one was ever used is not known
 * cheaply (the provider does not tell which secret a token was got with), so it is not guessed at: the
 * console and the CLI say exactly what stops. A rotation without a grace ends both at once, as after a leak.
 *
 * Without a grace the old one stops working at once, and so do the bot tokens issued with it: the chat nodes
 * are told to refuse the app's own tokens issued until now (an ended-access entry whose subject is the
 * client, as a bot token's `sub` is), before this returns where a gateway runs in this process. People's
 * tokens issued to the app were not issued with the secret alone and go on.
 */
export async function rotateClientSecret(
  ctx: GatewayContext,
  slug: string,
  options: RotateOptions = {},
): Promise<{ slug: string; clientId: string; clientSecret: string } & Rotated> {
  const graceSeconds = graceSecondsSchema.parse(options.graceSeconds ?? 0);
  const rotated = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    // A first-party app's secret would sign anyone in silently: a campus administrator's to hand out.
    assertMayBeFirstParty(ctx, app, app.firstParty);
    const client = await loadClient(ctx, app.clientId);
    if (!client) throw new Error(`app ${app.slug} has no OIDC client`);
    const clientSecret = newSecret();
    const graceKept = graceSeconds > 0 && stillInGrace(client.client_secret_previous_until);
    const until = graceEnd(graceSeconds);
    const sealed = sealedClientSecret(ctx, clientSecret);
    await saveClient(
      ctx,
      graceKept ? { ...client, client_secret_sealed: sealed } : withNewSecret(client, sealed, until),
    );
    if (!until) {
      await ctx.models.EndedAccess.create(
        { kind: 'sub', subject: app.clientId, clientId: app.clientId, endedAt: new Date() },
        { transaction: ctx.tx },
      );
    }
    const previousSecretWorksUntil = graceKept
      ? (client.client_secret_previous_until as string)
      : (until?.toISOString() ?? null);
    const details = { previousSecretWorksUntil, ...(graceKept ? { graceKept } : {}) };
    await audit(ctx, { action: 'app.rotate_client_secret', target: app.slug, details });
    return { slug: app.slug, clientId: app.clientId, clientSecret, previousSecretWorksUntil, graceKept };
  });
  await nodesTold(ctx);
  return rotated;
}

/** The client with its new secret, and the one it replaces kept (sealed as it was) until `until`, if given. */
function withNewSecret(client: ClientMetadata, sealed: string, until: Date | null): ClientMetadata {
  const { client_secret_previous_sealed: _previous, client_secret_previous_until: _until, ...rest } = client;
  if (!until) return { ...rest, client_secret_sealed: sealed };
  return {
    ...rest,
    client_secret_sealed: sealed,
    client_secret_previous_sealed: client.client_secret_sealed,
    client_secret_previous_until: until.toISOString(),
  };
}

/**
 * A new secret for the app's interaction callbacks, shown once. The chat nodes are told of it before this
 * returns (a node the gateway cannot reach keeps what it knew until its next fetch, or for
 * REGISTRY_TTL_SECONDS). With a grace, the nodes sign each click with both the new and the old secret until
 * it ends (protocol/callback-signature.ts), so the app verifies with either; without one, with the new one
 * alone at once. A first-party app's is a campus administrator's too: whoever holds it can forge a click to
 * the app, and rotating it without a grace stops the app's real callbacks. Within the grace of another
 * rotation, one with a grace keeps that grace as it was, as for the client secret (graceKept).
 */
export async function rotateCallbackSecret(
  ctx: GatewayContext,
  slug: string,
  secrets: Sealer,
  options: RotateOptions = {},
): Promise<{ slug: string; callbackSecret: string } & Rotated> {
  const graceSeconds = graceSecondsSchema.parse(options.graceSeconds ?? 0);
  const rotated = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    assertMayBeFirstParty(ctx, app, app.firstParty);
    const callbackSecret = newSecret();
    const graceKept =
      graceSeconds > 0 &&
      app.callbackSecretPreviousSealed !== null &&
      stillInGrace(app.callbackSecretPreviousUntil?.toISOString());
    if (!graceKept) {
      // Whole seconds, as a MariaDB DATETIME keeps it: what is said is what is stored.
      const end = app.callbackSecretSealed ? graceEnd(graceSeconds) : null;
      const until = end && new Date(Math.floor(end.getTime() / 1000) * 1000);
      app.callbackSecretPreviousSealed = until ? app.callbackSecretSealed : null;
      app.callbackSecretPreviousUntil = until;
    }
    app.callbackSecretSealed = secrets.seal(callbackSecret);
    await app.save({ transaction: ctx.tx });
    await recordChangedApp(ctx, app);
    const previousSecretWorksUntil = app.callbackSecretPreviousUntil?.toISOString() ?? null;
    const details = { previousSecretWorksUntil, ...(graceKept ? { graceKept } : {}) };
    await audit(ctx, { action: 'app.rotate_callback_secret', target: app.slug, details });
    return { slug: app.slug, callbackSecret, previousSecretWorksUntil, graceKept };
  });
  await nodesTold(ctx);
  return rotated;
}
