import type { Request } from 'express';
import type passport from 'passport';
import type { VerifyFunctionWithRequest } from 'openid-client/passport';
import { ownRelyingParty, type OwnRelyingParty } from '../http/own-relying-party.ts';
import type { PendingSignInsKey } from '../http/pending-sign-ins.ts';
import { ForbiddenError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { actorFromClaims, admitToConsole, reloadConsoleActor } from '../accounts/console-access.ts';
import type { GatewayContext } from '../context.ts';
import { CONSOLE_CLIENT_ID, consoleClientSecret } from './console-client.ts';
import type { ConsoleUser } from './page.ts';

const STRATEGY = 'atrium';
export const CONSOLE_SCOPE = 'openid profile atrium';
/** Where the console's sign-ins under way are kept in the session (http/pending-sign-ins.ts). */
export const CONSOLE_SIGN_INS = 'consoleSignIns' satisfies PendingSignInsKey;

/**
 * What the strategy hands the callback route: the admin to sign in, the ID token kept for logout, and the
 * console's sid of the gateway session signed in through, which the new console session's id is tagged with.
 */
export type SignedIn = { actor: ConsoleUser; idToken: string | undefined; gatewaySid: string | undefined };
/** Why a sign-in that reached the gateway did not let someone in, and whom (to ask again whether it still holds). */
export type Refusal = { refused: string; userId: string; idToken: string | undefined };

export type ConsoleAuth = OwnRelyingParty;

type AuthDeps = {
  issuer: string;
  secretKey: string;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
};

/**
 * The console as a relying party of its own gateway: a private passport instance (several gateways may
 * share a process) with openid-client's strategy, PKCE included; sign-ins started in several tabs at once
 * each finish (http/pending-sign-ins.ts). The session keeps the actor (and the ID token, for logout); each
 * request reloads the actor from the database, so disabling an account or removing a role ends console
 * access at once.
 */
export function createConsoleAuth(deps: AuthDeps): ConsoleAuth {
  const verify: VerifyFunctionWithRequest = async (req, tokens, verified) => {
    const claims: Record<string, unknown> = tokens.claims() ?? {};
    let actor = actorFromClaims(claims);
    try {
      actor = await admitToConsole(deps.context(req), actor);
    } catch (error) {
      if (!(error instanceof ForbiddenError)) throw error;
      const refusal: Refusal = { refused: error.message, userId: actor.id, idToken: tokens.id_token };
      return verified(null, false, refusal);
    }
    const gatewaySid = typeof claims.sid === 'string' ? claims.sid : undefined;
    const signedIn: SignedIn = { actor, idToken: tokens.id_token, gatewaySid };
    verified(null, signedIn);
  };

  const party = ownRelyingParty({
    issuer: deps.issuer,
    clientId: CONSOLE_CLIENT_ID,
    clientSecret: consoleClientSecret(deps.secretKey),
    scope: CONSOLE_SCOPE,
    strategy: STRATEGY,
    callbackPath: '/admin/callback',
    signedOutPath: '/admin/signed-out',
    pendingKey: CONSOLE_SIGN_INS,
    verify,
    logger: deps.logger,
    label: 'admin console',
  });
  configureSessions(party.passport, deps);
  return party;
}

function configureSessions(authenticator: passport.Authenticator, deps: AuthDeps): void {
  // When the person signed in, so that ending their access later (a reset, "sign out everywhere") ends this session too.
  authenticator.serializeUser((user, done) => done(null, { ...(user as object), signedInAt: Date.now() }));
  // Two parameters on purpose: passport calls a three-parameter deserializer as (req, stored, done).
  authenticator.deserializeUser((stored: unknown, done: (err: unknown, user?: Express.User | false) => void) => {
    const { id, signedInAt } = (stored ?? {}) as { id?: unknown; signedInAt?: unknown };
    if (typeof id !== 'string') return done(null, false);
    reloadConsoleActor(deps.context(null), id, typeof signedInAt === 'number' ? signedInAt : 0).then(
      (actor) => done(null, actor ?? false),
      done,
    );
  });
}
