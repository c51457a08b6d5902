import type { GatewayContext } from '../context.ts';
import { ensureFirstPartyClient, firstPartyClientSecret } from '../oidc/first-party-client.ts';
import { serviceName } from '../place.ts';

export const PORTAL_CLIENT_ID = 'atrium-portal';

export function portalClientSecret(secretKey: string): string {
  return firstPartyClientSecret(PORTAL_CLIENT_ID, secretKey);
}

/** Where the gateway tells its own portal of a logout: the gateway itself, not a URL an administrator registered. */
export const portalBackchannelLogoutUri = (issuer: string) => `${issuer}/portal/backchannel-logout`;

/** `name` is what the sign-in and consent pages say the person continues to: the campus's name, or Atrium. */
export function portalClientMetadata(issuer: string, secretKey: string, name = 'Atrium') {
  return {
    client_id: PORTAL_CLIENT_ID,
    client_secret: portalClientSecret(secretKey),
    client_name: name,
    redirect_uris: [`${issuer}/portal/callback`],
    post_logout_redirect_uris: [`${issuer}/portal/signed-out`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    // Signing out elsewhere (an app, the admin console) ends the portal's session too.
    backchannel_logout_uri: portalBackchannelLogoutUri(issuer),
    backchannel_logout_session_required: true,
    // The account page judges a "recent sign-in" by auth_time (factors/confirm-identity.ts).
    require_auth_time: true,
    first_party: true,
  };
}

/**
 * Registers the portal as a first-party client of its own gateway, like the admin console (see
 * ensureFirstPartyClient): people do not open it from the workbench, it is the workbench.
 */
export function ensurePortalClient(
  ctx: GatewayContext,
  issuer: string,
  secretKey: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const client = {
    clientId: PORTAL_CLIENT_ID,
    metadata: portalClientMetadata(issuer, secretKey, serviceName(ctx.place)),
    auditAs: 'portal',
  };
  return ensureFirstPartyClient(ctx, client, issuer);
}
