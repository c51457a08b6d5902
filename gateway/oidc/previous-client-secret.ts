import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../../core/logger.ts';
import { appOfClient } from '../apps-registry/client-gate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { stillInGrace } from '../apps-registry/grace.ts';
import { PREVIOUS_SECRET, type PreviousSecret } from './client-secrets.ts';
import { presentedSecret, sameSecret } from './turned-off-client.ts';

/**
 * oidc-provider knows one secret per client. While a rotated secret is in its grace, a request of the app
 * (token, introspection, revocation) that presents that previous secret is served the client with it as
 * its secret, and the provider then authenticates it as ever (its own constant-time compare); any other
 * request, one presenting the current secret, a wrong one or none, is served the client with the current
 * secret alone. So the previous secret opens nothing the current one does not, and nothing once its grace
 * is over: the end is checked here, at each request, not when the client was read (clients are kept).
 *
 * Returns the client to hand the provider, and the end of the grace when the previous secret was presented.
 */
export function clientAsPresented(
  ctx: KoaContextWithOIDC | undefined,
  clientId: string,
  client: Record<string | symbol, unknown>,
): { client: Record<string | symbol, unknown>; previousUntil: string | null } {
  const previous = client[PREVIOUS_SECRET] as PreviousSecret | undefined;
  if (!ctx || !previous || !stillInGrace(previous.until)) return { client, previousUntil: null };
  const presented = presentedSecret(ctx, clientId);
  if (presented === undefined || !sameSecret(presented, previous.secret)) return { client, previousUntil: null };
  return { client: { ...client, client_secret: previous.secret }, previousUntil: previous.until };
}

/** At most one audit line per client and process in this time: enough to see who has not switched. */
const NOTED_EVERY_MS = 10 * 60 * 1000;
const lastNoted = new Map<string, number>();

/**
 * Says, in the audit log and the gateway's log, that an app authenticated with its previous secret, and
 * until when that still works: the operator sees which apps have not been given the new one yet.
 */
export async function notePreviousSecretUsed(
  ctx: GatewayContext,
  logger: Logger,
  clientId: string,
  until: string,
): Promise<void> {
  const now = Date.now();
  if ((lastNoted.get(clientId) ?? 0) > now - NOTED_EVERY_MS) return;
  lastNoted.set(clientId, now);
  for (const [id, at] of lastNoted) if (at <= now - NOTED_EVERY_MS) lastNoted.delete(id);
  const slug = (await appOfClient(ctx, clientId))?.slug ?? clientId;
  logger.warn(
    { clientId, app: slug, until },
    `${slug} authenticated with its previous client secret (works until ${until})`,
  );
  await audit(ctx, { action: 'app.previous_client_secret_used', target: slug, details: { clientId, until } });
}
