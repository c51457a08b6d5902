import type { GatewayContext } from '../context.ts';
import { ensureFirstPartyClient, firstPartyClientSecret } from '../oidc/first-party-client.ts';

export const CONSOLE_CLIENT_ID = 'atrium-admin';

export function consoleClientSecret(secretKey: string): string {
  return firstPartyClientSecret(CONSOLE_CLIENT_ID, secretKey);
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
