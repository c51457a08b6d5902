import { createHash, timingSafeEqual } from 'node:crypto';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * The app's own request (client credentials, a code or a refresh, introspection, revocation) with its right
 * secret, while an administrator has turned the app off: told so, since the app has proved it is that app.
 * A wrong secret, or none, still gets the provider's plain "client authentication failed", the same as for a
 * client that does not exist: nobody learns from a guess that the client is there and turned off.
 */
export class ClientTurnedOffError extends errors.InvalidClientAuth {
  override error_description = 'the app is turned off at the gateway';
}

/** The secret a token-endpoint request presents for `clientId` (Basic header or client_secret), if any. */
export function presentedSecret(ctx: KoaContextWithOIDC, clientId: string): string | undefined {
  const body = (ctx.oidc?.params ?? {}) as Record<string, unknown>;
  if (typeof body.client_secret === 'string') return body.client_id === clientId ? body.client_secret : undefined;
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(ctx.headers.authorization ?? '');
  if (!match) return undefined;
  const basic = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return undefined;
  try {
    // As the provider decodes them (RFC 6749 §2.3.1: form-encoded, then Basic).
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, '%20'));
    return decode(basic.slice(0, colon)) === clientId ? decode(basic.slice(colon + 1)) : undefined;
  } catch {
    return undefined;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether two secrets are the same, in a time that tells nothing of where they differ (nor of their lengths). */
export const sameSecret = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/**
 * Throws ClientTurnedOffError when the request being served (`ctx`) authenticates as `clientId` with its
 * real secret (`client`, as the store opened it); otherwise returns, and the client is simply not found.
 */
export function refuseTurnedOffClient(
  ctx: KoaContextWithOIDC | undefined,
  clientId: string,
  client: Record<string, unknown>,
): void {
  if (!ctx || typeof client.client_secret !== 'string') return;
  const presented = presentedSecret(ctx, clientId);
  if (presented === undefined) return;
  if (sameSecret(presented, client.client_secret)) throw new ClientTurnedOffError();
}
