import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import * as client from 'openid-client';
import { Strategy, type VerifyFunctionWithRequest } from 'openid-client/passport';
import type { Logger } from '../../core/logger.ts';
import { pendingSignIns, type PendingSignInsKey, type StartedSignIn } from './pending-sign-ins.ts';

/**
 * The one session slot openid-client's strategy reads a sign-in's state, PKCE verifier and nonce from. Each
 * browser may have several sign-ins under way (http/pending-sign-ins.ts): the one a callback answers is put
 * here just before the strategy reads it, and the strategy empties it.
 */
const STRATEGY_SLOT = 'oidc';

/** What passport hands a custom callback: an error, the verified user or false, and why not. */
export type FinishSignIn<User, Info> = (err: unknown, user: User | false | undefined, info: Info | undefined) => void;

export type OwnRelyingParty = {
  /** A passport instance of its own (several gateways may share a process), with the strategy once discovered. */
  passport: passport.Authenticator;
  /** Discovers the issuer on first use (the gateway is not serving yet when the page is built); a failure is retried next time. */
  ready(): Promise<client.Configuration>;
  /** The gateway's end-session URL for this client, coming back to `signedOutPath`. */
  endSessionUrl(idToken: string | undefined): Promise<string>;
  /**
   * Starts a sign-in beside any other this browser has under way (tabs restored at once), with a state,
   * PKCE verifier and nonce of its own; the gateway's authorization URL to send the browser to.
   */
  startSignIn(req: Request, extra?: { resource?: string[]; prompt?: string }): Promise<URL>;
  /** The sign-in this browser started with `state`, used once; none for a forged, used, foreign or old one. */
  takeSignIn(req: Request, state: unknown): StartedSignIn | undefined;
  /**
   * Finishes the sign-in `started` at its callback: the code is exchanged by openid-client's strategy, which
   * checks the callback's state, the PKCE verifier and the ID token's nonce against it, then calls `done`.
   */
  finishSignIn<User, Info>(
    req: Request,
    res: Response,
    next: NextFunction,
    started: StartedSignIn,
    done: FinishSignIn<User, Info>,
  ): void;
  /** Signs `user` in, renewing the session; the sign-ins other tabs started are carried across. */
  logIn(req: Request, user: Express.User, done: (err?: unknown) => void): void;
};

/**
 * A page of the gateway (the admin console, the web portal) signing people in at the gateway itself, as
 * a first-party OIDC client: openid-client's passport strategy, PKCE included, client_secret_basic. Its
 * sign-ins under way are kept in the session under `pendingKey`, apart from any other client's.
 */
export function ownRelyingParty(options: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  strategy: string;
  callbackPath: string;
  signedOutPath: string;
  pendingKey: PendingSignInsKey;
  verify: VerifyFunctionWithRequest;
  logger: Logger;
  label: string;
}): OwnRelyingParty {
  const authenticator = new passport.Passport();
  const insecure = options.issuer.startsWith('http://');
  const callbackURL = `${options.issuer}${options.callbackPath}`;
  const pending = pendingSignIns(options.pendingKey);
  let configuration: Promise<client.Configuration> | undefined;

  async function discover(): Promise<client.Configuration> {
    const config = await client.discovery(
      new URL(options.issuer),
      options.clientId,
      { client_secret: options.clientSecret },
      client.ClientSecretBasic(options.clientSecret),
      insecure ? { execute: [client.allowInsecureRequests] } : undefined,
    );
    authenticator.use(
      options.strategy,
      new Strategy(
        { config, scope: options.scope, callbackURL, sessionKey: STRATEGY_SLOT, passReqToCallback: true },
        options.verify,
      ),
    );
    return config;
  }

  function ready(): Promise<client.Configuration> {
    configuration ??= discover().catch((error: unknown) => {
      configuration = undefined;
      options.logger.error({ err: error, issuer: options.issuer }, `${options.label} could not discover its issuer`);
      throw error;
    });
    return configuration;
  }

  return {
    passport: authenticator,
    ready,
    async endSessionUrl(idToken) {
      const config = await ready();
      const params: Record<string, string> = { post_logout_redirect_uri: `${options.issuer}${options.signedOutPath}` };
      if (idToken) params.id_token_hint = idToken;
      else params.client_id = options.clientId;
      return client.buildEndSessionUrl(config, params).href;
    },
    async startSignIn(req, extra = {}) {
      return pending.start(req, await ready(), { redirectUri: callbackURL, scope: options.scope, ...extra });
    },
    takeSignIn: pending.take,
    finishSignIn(req, res, next, started, done) {
      (req.session as unknown as Record<string, unknown>)[STRATEGY_SLOT] = {
        code_verifier: started.verifier,
        nonce: started.nonce,
        state: started.state,
      };
      authenticator.authenticate(options.strategy, done)(req, res, next);
    },
    logIn: pending.logIn,
  };
}
