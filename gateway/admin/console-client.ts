import type { GatewayContext } from '../context.ts';
import { ensureFirstPartyClient, firstPartyClientSecret } from '../oidc/first-party-client.ts';

export const CONSOLE_CLIENT_ID = 'atrium-admin';

export function consoleClientSecret(secretKey: string): string {
  return firstPartyClientSecret(CONSOLE_CLIENT_ID, secretKey);
}

/** Where the gateway tells its own console of a logout: the gateway itself, as for the portal. */
export const consoleBackchannelLogoutUri = (issuer: string) => `${issuer}/admin/backchannel-logout`;

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
    // Signing out of the gateway in a browser (the portal's Sign out, an app's) ends its console session too;
    // the ID token then names the gateway session (sid), which the console's session ids are tagged with.
    backchannel_logout_uri: consoleBackchannelLogoutUri(issuer),
    backchannel_logout_session_required: true,
    first_party: true,
  };
}

/** Registers the console as a first-party client of its own gateway (see ensureFirstPartyClient). */
export function ensureConsoleClient(
  ctx: GatewayContext,
  issuer: string,
  secretKey: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const client = {
    clientId: CONSOLE_CLIENT_ID,
    metadata: consoleClientMetadata(issuer, secretKey),
    auditAs: 'console',
  };
  return ensureFirstPartyClient(ctx, client, issuer);
}
