import { createHmac } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import { audit } from '../audit.ts';
import { operator, type GatewayContext } from '../context.ts';

export const CONSOLE_CLIENT_ID = 'atrium-admin';

/** Derived from the gateway's secret, so every process agrees on it without storing or sharing it. */
export function consoleClientSecret(secretKey: string): string {
  return createHmac('sha256', secretKey).update('atrium-admin-client').digest('base64url');
}

export function consoleClientMetadata(issuer: string, secretKey: string) {
  return {
    client_id: CONSOLE_CLIENT_ID,
    client_secret: consoleClientSecret(secretKey),
    client_name: 'Atrium admin console',
    redirect_uris: [`${issuer}/admin/callback`],
    post_logout_redirect_uris: [`${issuer}/admin/signed-out`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    first_party: true,
  };
}

/**
 * Registers the console as an OIDC client of its own gateway, stored like any registered app's client
 * (but with no row in `apps`: it is part of the gateway, not an app people open). Idempotent, and safe
 * when several processes start at once; a changed issuer or secret rewrites the stored metadata.
 */
export async function ensureConsoleClient(ctx: GatewayContext, issuer: string, secretKey: string): Promise<'created' | 'updated' | 'unchanged'> {
  const { OidcPayload } = ctx.models;
  const payload = JSON.stringify(consoleClientMetadata(issuer, secretKey));
  const system = { ...ctx, actor: operator('gateway') };
  const existing = await OidcPayload.findOne({ where: { model: 'Client', id: CONSOLE_CLIENT_ID } });
  if (existing) {
    if (existing.payload === payload) return 'unchanged';
    await OidcPayload.update({ payload }, { where: { model: 'Client', id: CONSOLE_CLIENT_ID } });
    await audit(system, { action: 'console.client_update', target: CONSOLE_CLIENT_ID, details: { issuer } });
    return 'updated';
  }
  try {
    await OidcPayload.create({ model: 'Client', id: CONSOLE_CLIENT_ID, payload, grantId: null, userCode: null, uid: null, expiresAt: null, consumedAt: null });
  } catch (error) {
    // Another process registered it between our read and our write; its metadata is the same as ours.
    if (error instanceof UniqueConstraintError) return 'unchanged';
    throw error;
  }
  await audit(system, { action: 'console.client_register', target: CONSOLE_CLIENT_ID, details: { issuer } });
  return 'created';
}
