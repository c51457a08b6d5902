import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConflictError } from '../core/errors.ts';
import { parseInput } from '../core/validate.ts';
import { audit } from '../gateway/audit.ts';
import type { GatewayContext } from '../gateway/context.ts';
import { assertFullAdmin } from '../gateway/accounts/scope.ts';
import { inTransaction } from '../gateway/transaction.ts';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An app URL: absolute, https outside localhost, no wildcard, no fragment. */
export const appUrlSchema = z
  .url({ message: 'an absolute URL' })
  .refine((u) => !u.includes('*'), { message: 'wildcards are not allowed' })
  .refine((u) => !URL.parse(u)?.hash, { message: 'must not contain a #fragment' })
  .refine((u) => {
    const url = URL.parse(u);
    if (!url) return true;
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname));
  }, { message: 'must use https (http is allowed only for localhost)' });

export const newAppSchema = z.object({
  name: z.string().trim().min(1, { message: 'required' }).max(200),
  clientId: z.string().trim().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase letters, digits and dashes' }).optional(),
  redirectUris: z.array(appUrlSchema).min(1, { message: 'at least one redirect URI' }),
  postLogoutRedirectUris: z.array(appUrlSchema).default([]),
  backchannelLogoutUri: appUrlSchema.optional(),
  firstParty: z.boolean().default(false),
});

export type RegisteredApp = { id: string; clientId: string; clientSecret: string; name: string };

/**
 * Registers an app as an OIDC client of the gateway (authorization code, refresh, client credentials).
 * The secret is returned once, here; the full registry (visibility, bots, cards) builds on this.
 */
export async function registerApp(ctx: GatewayContext, input: unknown): Promise<RegisteredApp> {
  const data = parseInput(newAppSchema, input);
  assertFullAdmin(ctx.actor);
  const clientId = data.clientId ?? `app-${randomUUID().slice(0, 8)}`;
  const clientSecret = randomBytes(32).toString('base64url');
  return inTransaction(ctx, async (ctx) => {
    const { App, OidcPayload } = ctx.models;
    if (await App.findOne({ where: { clientId }, transaction: ctx.tx })) throw new ConflictError(`Client id ${clientId} is taken`);
    const app = await App.create({ id: randomUUID(), clientId, name: data.name, firstParty: data.firstParty }, { transaction: ctx.tx });
    const metadata = {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: data.name,
      redirect_uris: data.redirectUris,
      post_logout_redirect_uris: data.postLogoutRedirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      first_party: data.firstParty,
      ...(data.backchannelLogoutUri
        ? { backchannel_logout_uri: data.backchannelLogoutUri, backchannel_logout_session_required: true }
        : {}),
    };
    await OidcPayload.create(
      { model: 'Client', id: clientId, payload: JSON.stringify(metadata), grantId: null, userCode: null, uid: null, expiresAt: null, consumedAt: null },
      { transaction: ctx.tx },
    );
    await audit(ctx, { action: 'app.register', target: clientId, details: { name: data.name, redirectUris: data.redirectUris, firstParty: data.firstParty } });
    return { id: app.id, clientId, clientSecret, name: data.name };
  });
}
