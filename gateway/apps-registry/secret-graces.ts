import type { GatewayContext } from '../context.ts';
import { findManageableApp } from './app-scope.ts';
import { loadClient } from './client-metadata.ts';
import { stillInGrace } from './grace.ts';

/** Until when each of the app's previous secrets (client, callback) keeps working; null where none does. */
export type SecretGraces = { clientSecretPreviousUntil: string | null; callbackSecretPreviousUntil: string | null };

/**
 * What the app's page and `atrium apps show` say of a rotation still in its grace (rotate-secrets.ts): the
 * operator sees until when the app may go on with the secret it had, without reading the audit log.
 */
export async function secretGraces(ctx: GatewayContext, slug: string): Promise<SecretGraces> {
  const app = await findManageableApp(ctx, slug);
  const client = await loadClient(ctx, app.clientId);
  const clientUntil = client?.client_secret_previous_until;
  const callbackUntil = app.callbackSecretPreviousUntil?.toISOString();
  return {
    clientSecretPreviousUntil: stillInGrace(clientUntil) ? clientUntil : null,
    callbackSecretPreviousUntil: stillInGrace(callbackUntil) ? callbackUntil : null,
  };
}
