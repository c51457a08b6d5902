import type { Request } from 'express';
import passport from 'passport';
import * as client from 'openid-client';
import { keepSignIn, logInKeepingOthers, takeSignIn } from './pending-sign-ins.ts';

/** The signed-in person as the gateway describes them (scope `atrium` adds units and the chat domain). */
export type Person = {
  sub: string;
  username: string;
  name: string;
  address: string | null;
  units: string[];
  roles: string[];
  /** The gateway session this sign-in came through: a back-channel logout names it. */
  sid?: string;
};

const SCOPE = 'openid profile atrium';

/** Signing people in at the Atrium gateway, and out of it again. */
export interface Auth {
  /** The passport instance that keeps the signed-in person in the session (`req.user`, `req.logIn`). */
  passport: passport.Authenticator;
  /** Discovers the gateway (once; a failure is retried on the next call). */
  ready(): Promise<client.Configuration>;
  /**
   * Starts a sign-in beside any other this browser has under way (two tabs, a browser restoring its
   * tabs): its own state, PKCE verifier and nonce, for ten minutes. Answers where to send the browser.
   */
  signInUrl(req: Request, options?: { prompt?: 'none' }): Promise<string>;
  /**
   * Finishes the sign-in the callback answers: the person, or null when this browser did not start it,
   * used it already or started it too long ago. An error answer of the gateway (`login_required` after a
   * silent start, a cancelled sign-in) is thrown as openid-client's AuthorizationResponseError.
   */
  finishSignIn(req: Request): Promise<(Person & { idToken?: string }) | null>;
  /** Signs the person in to a fresh session, keeping the sign-ins the browser's other tabs have under way. */
  logIn(req: Request, user: Express.User, done: (error?: unknown) => void): void;
  /** Where signing out of the gateway too goes (RP-initiated logout), returning to the app's home. */
  endSessionUrl(idToken: string | undefined): Promise<string>;
}

/** The person an ID token describes. */
function personOf(claims: client.IDToken): Person {
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const username = String(claims.preferred_username ?? claims.sub);
  const home = typeof claims.im_home_domain === 'string' ? claims.im_home_domain : null;
  return {
    sub: claims.sub,
    username,
    name: typeof claims.name === 'string' ? claims.name : username,
    address: home ? `${username}@${home}` : null,
    units: strings(claims.org_units),
    roles: strings(claims.roles),
    ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
  };
}

/**
 * Sign-in through the Atrium gateway with openid-client: authorization code with PKCE, state and nonce,
 * each sign-in's secrets kept in the session under its state (pending-sign-ins.ts), so that several tabs
 * can sign in at once. Passport keeps the person in the session. A person already signed in at the
 * gateway comes straight back, and the app is first-party, so there is no consent page either. The issuer
 * is discovered on first use.
 */
export function createAuth(options: {
  gatewayIssuer: string;
  clientId: string;
  clientSecret: string;
  publicUrl: string;
}): Auth {
  const authenticator = new passport.Passport();
  authenticator.serializeUser((user, done) => done(null, user));
  authenticator.deserializeUser((user: Express.User, done) => done(null, user));
  const callbackUrl = `${options.publicUrl}/auth/callback`;

  let ready: Promise<client.Configuration> | undefined;
  function discover(): Promise<client.Configuration> {
    ready ??= client
      .discovery(
        new URL(options.gatewayIssuer),
        options.clientId,
        options.clientSecret,
        client.ClientSecretBasic(options.clientSecret),
        {
          execute: options.gatewayIssuer.startsWith('http://') ? [client.allowInsecureRequests] : [],
        },
      )
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return ready;
  }

  return {
    passport: authenticator,
    ready: discover,
    async signInUrl(req, { prompt } = {}) {
      const config = await discover();
      const state = client.randomState();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const params = new URLSearchParams({
        redirect_uri: callbackUrl,
        scope: SCOPE,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      if (prompt) params.set('prompt', prompt);
      keepSignIn(req, state, { verifier, nonce });
      return client.buildAuthorizationUrl(config, params).href;
    },
    async finishSignIn(req) {
      const config = await discover();
      const started = takeSignIn(req, req.query.state);
      if (!started) return null;
      // The callback as registered (the app may sit behind a proxy), with what the gateway answered.
      const answered = new URL(callbackUrl);
      for (const [key, value] of new URL(req.originalUrl, callbackUrl).searchParams)
        answered.searchParams.append(key, value);
      const tokens = await client.authorizationCodeGrant(config, answered, {
        pkceCodeVerifier: started.verifier,
        expectedState: String(req.query.state),
        expectedNonce: started.nonce,
      });
      const claims = tokens.claims();
      if (!claims) throw new Error('the gateway answered the sign-in without an ID token');
      return { ...personOf(claims), idToken: tokens.id_token };
    },
    logIn: logInKeepingOthers,
    async endSessionUrl(idToken: string | undefined): Promise<string> {
      const config = await discover();
      return client.buildEndSessionUrl(config, {
        post_logout_redirect_uri: `${options.publicUrl}/`,
        ...(idToken ? { id_token_hint: idToken } : { client_id: options.clientId }),
      }).href;
    },
  };
}
