import passport from 'passport';
import * as client from 'openid-client';
import { Strategy, type VerifyFunction } from 'openid-client/passport';

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

export const STRATEGY = 'atrium';

/** Signing people in at the Atrium gateway, and out of it again. */
export interface Auth {
  /** The passport instance the routes authenticate with; its strategy is registered once the issuer is discovered. */
  passport: passport.Authenticator;
  /** Discovers the gateway (once; a failure is retried on the next call) and registers the sign-in strategy. */
  ready(): Promise<client.Configuration>;
  /** Where signing out of the gateway too goes (RP-initiated logout), returning to the app's home. */
  endSessionUrl(idToken: string | undefined): Promise<string>;
}

/**
 * Sign-in through the Atrium gateway: passport with openid-client's strategy (authorization code + PKCE,
 * state and nonce kept in the session). A person already signed in at the gateway comes straight back,
 * and the app is first-party, so there is no consent page either. The issuer is discovered on first use.
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

  const verify: VerifyFunction = (tokens, verified) => {
    const claims = tokens.claims() ?? ({} as client.IDToken);
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    const username = String(claims.preferred_username ?? claims.sub);
    const home = typeof claims.im_home_domain === 'string' ? claims.im_home_domain : null;
    const person: Person = {
      sub: claims.sub,
      username,
      name: typeof claims.name === 'string' ? claims.name : username,
      address: home ? `${username}@${home}` : null,
      units: strings(claims.org_units),
      roles: strings(claims.roles),
      ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
    };
    verified(null, { ...person, idToken: tokens.id_token } as Express.User);
  };

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
      .then((config) => {
        authenticator.use(
          STRATEGY,
          new Strategy(
            { config, scope: 'openid profile atrium', callbackURL: `${options.publicUrl}/auth/callback` },
            verify,
          ),
        );
        return config;
      })
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return ready;
  }

  return {
    passport: authenticator,
    ready: discover,
    async endSessionUrl(idToken: string | undefined): Promise<string> {
      const config = await discover();
      return client.buildEndSessionUrl(config, {
        post_logout_redirect_uri: `${options.publicUrl}/`,
        ...(idToken ? { id_token_hint: idToken } : { client_id: options.clientId }),
      }).href;
    },
  };
}
