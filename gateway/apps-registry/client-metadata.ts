import type { GatewayContext } from '../context.ts';
import { clientSecretSealerOf } from '../oidc/client-secrets.ts';

/**
 * The OIDC client of an app as the store keeps it: what oidc-provider reads, but for its secret, which is
 * sealed (gateway/oidc/client-secrets.ts) and opened only when the provider reads the client.
 */
export type ClientMetadata = {
  client_id: string;
  client_secret_sealed: string;
  /** The secret a rotation replaced, sealed alike, and when it stops working (rotate-secrets.ts). */
  client_secret_previous_sealed?: string;
  client_secret_previous_until?: string;
  client_name: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: string;
  first_party: boolean;
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
};

export type ClientFields = {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | null | undefined;
  firstParty: boolean;
};

/**
 * What the provider needs of an app, derived from the registry's fields so the two never disagree; the
 * secret comes sealed (sealedClientSecret).
 */
export function clientMetadataOf(clientId: string, sealedSecret: string, fields: ClientFields): ClientMetadata {
  return {
    client_id: clientId,
    client_secret_sealed: sealedSecret,
    client_name: fields.name,
    redirect_uris: fields.redirectUris,
    post_logout_redirect_uris: fields.postLogoutRedirectUris,
    // Client credentials are what a bot signs in with; the provider refuses them for a node unless the app has a bot.
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    first_party: fields.firstParty,
    ...(fields.backchannelLogoutUri
      ? { backchannel_logout_uri: fields.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
  };
}

/** A new client secret as the store keeps it, under the key bound to the context's database. */
export function sealedClientSecret(ctx: GatewayContext, clientSecret: string): string {
  return clientSecretSealerOf(ctx.sequelize).seal(clientSecret);
}

export async function loadClient(ctx: GatewayContext, clientId: string): Promise<ClientMetadata | null> {
  const row = await ctx.models.OidcPayload.findOne({ where: { model: 'Client', id: clientId }, transaction: ctx.tx });
  return row ? (JSON.parse(row.payload) as ClientMetadata) : null;
}

export async function loadClients(ctx: GatewayContext, clientIds: string[]): Promise<Map<string, ClientMetadata>> {
  if (clientIds.length === 0) return new Map();
  const rows = await ctx.models.OidcPayload.findAll({ where: { model: 'Client', id: clientIds }, transaction: ctx.tx });
  return new Map(rows.map((r) => [r.id, JSON.parse(r.payload) as ClientMetadata]));
}

/** Writes the client as the provider will read it next time (the provider caches clients by content). */
export async function saveClient(ctx: GatewayContext, metadata: ClientMetadata): Promise<void> {
  const { OidcPayload } = ctx.models;
  const payload = JSON.stringify(metadata);
  const where = { model: 'Client', id: metadata.client_id };
  // Looked up first: MariaDB counts only changed rows, so an update's count cannot tell "absent" from "same".
  if (await OidcPayload.findOne({ where, attributes: ['id'], transaction: ctx.tx })) {
    await OidcPayload.update({ payload }, { where, transaction: ctx.tx });
    return;
  }
  await OidcPayload.create(
    { ...where, payload, grantId: null, userCode: null, uid: null, expiresAt: null, consumedAt: null },
    { transaction: ctx.tx },
  );
}
