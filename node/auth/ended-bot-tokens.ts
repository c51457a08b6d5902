import { AppError } from '../../core/errors.ts';
import type { EndedAccess, TokenHolder } from './ended-access.ts';
import type { Identity, TokenVerifier } from './token-verifier.ts';

/** A bot token issued before its app's client secret was rotated: told as an ended sign-in is. */
export class BotTokenRevokedError extends AppError {
  constructor() {
    super(
      'token_revoked',
      401,
      "This bot token was issued before the app's client secret was rotated; get a new one with the new secret",
    );
  }
}

/**
 * A verifier that also refuses an app's own tokens (its bot's, client credentials) issued until its client
 * secret was rotated at the gateway: an ended-access entry whose subject and client are the app's client,
 * as a bot token's `sub` and `client_id` are (gateway/apps-registry/rotate-secrets.ts). The secret may have
 * leaked; a token got with it must not outlive it by its ten minutes.
 */
export function refusingRotatedBotTokens(verifier: TokenVerifier, ended: Pick<EndedAccess, 'endedFor'>): TokenVerifier {
  return {
    keys: verifier.keys,
    async verify(token) {
      const identity = await verifier.verify(token);
      const holder = botHolder(identity);
      if (holder && ended.endedFor(holder)) throw new BotTokenRevokedError();
      return identity;
    },
  };
}

/**
 * The bot token of an app identity as ended access names it: subject and client both the app's client.
 * Its `issuedAt` was verified (the gateway's, within the lifetime the node accepts). Nothing for a person.
 */
export function botHolder(identity: Identity): TokenHolder | null {
  if (identity.kind !== 'app' || identity.issuedAt === undefined) return null;
  return { sub: identity.clientId, sid: null, clientId: identity.clientId, issuedAt: identity.issuedAt };
}
