import type { Request } from 'express';
import passport from 'passport';
import * as client from 'openid-client';
import { Strategy, type VerifyFunctionWithRequest } from 'openid-client/passport';
import { ForbiddenError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { actorFromClaims, admitToConsole, reloadConsoleActor } from '../accounts/console-access.ts';
import type { GatewayContext } from '../context.ts';
import { CONSOLE_CLIENT_ID, consoleClientSecret } from './console-client.ts';
import type { ConsoleUser } from './page.ts';

export const STRATEGY = 'atrium';
export const CONSOLE_SCOPE = 'openid profile atrium';

/** What the strategy hands the callback route: the admin to sign in, and the ID token kept for logout. */
export type SignedIn = { actor: ConsoleUser; idToken: string | undefined };
/** Why a sign-in that reached the gateway did not let someone in. */
export type Refusal = { refused: string; idToken: string | undefined };

export type ConsoleAuth = {
  passport: passport.Authenticator;
  /** Discovers the issuer on first use (the gateway is not serving yet when the console is built). */
  ready(): Promise<client.Configuration>;
  endSessionUrl(idToken: string | undefined): Promise<string>;
};

type AuthDeps = {
  issuer: string;
  secretKey: string;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
};

/**
 * The console as a relying party of its own gateway: a private passport instance (several gateways may
 * share a process) with openid-client's strategy, PKCE included. The session keeps the actor (and the ID
 * token, for logout); each request reloads the actor from the database, so disabling an account or
 * removing a role ends console access at once.
 */
export function createConsoleAuth(deps: AuthDeps): ConsoleAuth {
  const authenticator = new passport.Passport();
  const insecure = deps.issuer.startsWith('http://');
  let configuration: Promise<client.Configuration> | undefined;

  authenticator.serializeUser((user, done) => done(null, user));
  // Two parameters on purpose: passport calls a three-parameter deserializer as (req, stored, done).
  authenticator.deserializeUser((stored: unknown, done: (err: unknown, user?: Express.User | false) => void) => {
    const id = (stored as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') return done(null, false);
    reloadConsoleActor(deps.context(null), id).then((actor) => done(null, actor ?? false), done);
  });

  const verify: VerifyFunctionWithRequest = async (req, tokens, verified) => {
    const actor = actorFromClaims(tokens.claims() ?? {});
    try {
      await admitToConsole(deps.context(req), actor);
    } catch (error) {
      if (!(error instanceof ForbiddenError)) throw error;
      const refusal: Refusal = { refused: error.message, idToken: tokens.id_token };
      return verified(null, false, refusal);
    }
    const signedIn: SignedIn = { actor, idToken: tokens.id_token };
    verified(null, signedIn);
  };

  async function discover(): Promise<client.Configuration> {
    const secret = consoleClientSecret(deps.secretKey);
    const config = await client.discovery(
      new URL(deps.issuer),
      CONSOLE_CLIENT_ID,
      { client_secret: secret },
      client.ClientSecretBasic(secret),
      insecure ? { execute: [client.allowInsecureRequests] } : undefined,
    );
    authenticator.use(
      STRATEGY,
      new Strategy(
        { config, scope: CONSOLE_SCOPE, callbackURL: `${deps.issuer}/admin/callback`, sessionKey: 'oidc', passReqToCallback: true },
        verify,
      ),
    );
    return config;
  }

  function ready(): Promise<client.Configuration> {
    configuration ??= discover().catch((error: unknown) => {
      // Forget the failure so the next request tries again instead of failing forever.
      configuration = undefined;
      deps.logger.error({ err: error, issuer: deps.issuer }, 'admin console could not discover its issuer');
      throw error;
    });
    return configuration;
  }

  return {
    passport: authenticator,
    ready,
    async endSessionUrl(idToken) {
      const config = await ready();
      const params: Record<string, string> = { post_logout_redirect_uri: `${deps.issuer}/admin/signed-out` };
      if (idToken) params.id_token_hint = idToken;
      else params.client_id = CONSOLE_CLIENT_ID;
      return client.buildEndSessionUrl(config, params).href;
    },
  };
}
