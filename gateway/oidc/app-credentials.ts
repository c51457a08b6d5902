import type { Request } from 'express';
import { ForbiddenError, RateLimitedError, UnauthenticatedError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import { clientUsable } from '../apps-registry/client-gate.ts';
import { stillInGrace } from '../apps-registry/grace.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayModels } from '../models/index.ts';
import { remember } from '../request-memo.ts';
import { createAdapterClass } from './adapter.ts';
import { PREVIOUS_SECRET, type PreviousSecret } from './client-secrets.ts';
import { notePreviousSecretUsed } from './previous-client-secret.ts';
import { ClientTurnedOffError, sameSecret } from './turned-off-client.ts';

/** The token endpoint's words for credentials that prove nothing: nobody learns whether the client exists. */
const FAILED = 'client authentication failed';

// Compared against where no client (or no usable secret) is found, so that the answer takes as long.
const NOBODY = 'no client has this secret';

/** `client_id:client_secret` of an HTTP Basic header, form-decoded as the token endpoint reads them (RFC 6749 §2.3.1). */
export function basicCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header ?? '');
  if (!match) return undefined;
  const basic = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return undefined;
  try {
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, '%20'));
    return { clientId: decode(basic.slice(0, colon)), secret: decode(basic.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

export type AppCredentialsDeps = {
  models: GatewayModels;
  logger: Logger;
  /** Failed attempts per address: a client secret is a guessable thing like a password. */
  limiter: RateLimiter;
};

/**
 * Authenticates an app's own request to a gateway API with its client credentials (HTTP Basic, as the
 * token endpoint takes them) and returns its client id. As at the token endpoint: the secret is read from
 * the provider's store and compared in constant time; a rotated secret works while its grace lasts (and
 * is noted, previous-client-secret.ts); a wrong secret or none, or an unknown client, is refused alike;
 * a disabled app that proves itself is told it is turned off. An address's failures are limited as
 * sign-ins are, counted first and taken back once the secret proves right.
 */
export function appCredentials(deps: AppCredentialsDeps) {
  const Store = createAdapterClass(deps.models);
  const clients = new Store('Client');
  return async function authenticateApp(ctx: GatewayContext, req: Request): Promise<string> {
    const presented = basicCredentials(req.get('authorization'));
    if (!presented)
      throw new UnauthenticatedError(`${FAILED}: send the app's client_id and client_secret (HTTP Basic)`);
    const address = ctx.ip ?? req.ip ?? 'unknown';
    const hit = await deps.limiter.hit(address);
    if (!hit.allowed)
      throw new RateLimitedError(
        hit.retryAfterSeconds,
        `Too many failed client authentications from this address. ${tryAgainIn(hit.retryAfterSeconds)}`,
      );
    const { clientId, secret } = presented;
    const stored = (await remember(ctx, `client:${clientId}`, () => clients.find(clientId))) as
      | Record<string | symbol, unknown>
      | undefined;
    const current = typeof stored?.client_secret === 'string' ? stored.client_secret : NOBODY;
    const previous = stored?.[PREVIOUS_SECRET] as PreviousSecret | undefined;
    const byCurrent = sameSecret(secret, current) && current !== NOBODY;
    const byPrevious = Boolean(previous && stillInGrace(previous.until) && sameSecret(secret, previous.secret));
    if (!byCurrent && !byPrevious) throw new UnauthenticatedError(FAILED);
    await deps.limiter.release(address);
    if (!(await clientUsable(ctx, clientId))) throw new ForbiddenError(new ClientTurnedOffError().error_description);
    if (byPrevious && !byCurrent) await notePreviousSecretUsed(ctx, deps.logger, clientId, previous!.until);
    return clientId;
  };
}
