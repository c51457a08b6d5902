import { createHmac } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import { audit } from '../audit.ts';
import { operator, type GatewayContext } from '../context.ts';

export const PORTAL_CLIENT_ID = 'atrium-portal';

/** Derived from the gateway's secret, so every process agrees on it without storing or sharing it. */
export function portalClientSecret(secretKey: string): string {
  return createHmac('sha256', secretKey).update('atrium-portal-client').digest('base64url');
}

export function portalClientMetadata(issuer: string, secretKey: string) {
  return {
    client_id: PORTAL_CLIENT_ID,
    client_secret: portalClientSecret(secretKey),
    client_name: 'Atrium',
    redirect_uris: [`${issuer}/portal/callback`],
    post_logout_redirect_uris: [`${issuer}/portal/signed-out`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    // Signing out elsewhere (an app, the admin console) ends the portal's session too.
    backchannel_logout_uri: `${issuer}/portal/backchannel-logout`,
    backchannel_logout_session_required: true,
    // The account page judges a "recent sign-in" by auth_time (factors/confirm-identity.ts).
    require_auth_time: true,
    first_party: true,
  };
}

/**
 * Registers the portal as a first-party OIDC client of its own gateway, like the admin console: stored
 * as a client with no row in `apps` (people do not open it from the workbench, it is the workbench).
 * Idempotent and safe when several processes start at once; a changed issuer or secret rewrites it.
 */
export async function ensurePortalClient(ctx: GatewayContext, issuer: string, secretKey: string): Promise<'created' | 'updated' | 'unchanged'> {
  const { OidcPayload } = ctx.models;
  const payload = JSON.stringify(portalClientMetadata(issuer, secretKey));
  const system = { ...ctx, actor: operator('gateway') };
  const existing = await OidcPayload.findOne({ where: { model: 'Client', id: PORTAL_CLIENT_ID } });
  if (existing) {
    if (existing.payload === payload) return 'unchanged';
    await OidcPayload.update({ payload }, { where: { model: 'Client', id: PORTAL_CLIENT_ID } });
    await audit(system, { action: 'portal.client_update', target: PORTAL_CLIENT_ID, details: { issuer } });
    return 'updated';
  }
  try {
    await OidcPayload.create({ model: 'Client', id: PORTAL_CLIENT_ID, payload, grantId: null, userCode: null, uid: null, expiresAt: null, consumedAt: null });
  } catch (error) {
    // Another process registered it between our read and our write; its metadata is the same as ours.
    if (error instanceof UniqueConstraintError) return 'unchanged';
    throw error;
  }
  await audit(system, { action: 'portal.client_register', target: PORTAL_CLIENT_ID, details: { issuer } });
  return 'created';
}
