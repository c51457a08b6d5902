import passport from 'passport';
import * as client from 'openid-client';
import { Strategy, type VerifyFunctionWithRequest } from 'openid-client/passport';
import type { Logger } from '../../core/logger.ts';

export type OwnRelyingParty = {
  /** A passport instance of its own (several gateways may share a process), with the strategy once discovered. */
  passport: passport.Authenticator;
  /** Discovers the issuer on first use (the gateway is not serving yet when the page is built); a failure is retried next time. */
  ready(): Promise<client.Configuration>;
  /** The gateway's end-session URL for this client, coming back to `signedOutPath`. */
  endSessionUrl(idToken: string | undefined): Promise<string>;
};

/**
 * A page of the gateway (the admin console, the web portal) signing people in at the gateway itself, as
 * a first-party OIDC client: openid-client's passport strategy, PKCE included, client_secret_basic.
 */
export function ownRelyingParty(options: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  strategy: string;
  callbackPath: string;
  signedOutPath: string;
  verify: VerifyFunctionWithRequest;
  logger: Logger;
  label: string;
}): OwnRelyingParty {
  const authenticator = new passport.Passport();
  const insecure = options.issuer.startsWith('http://');
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
        {
          config,
          scope: options.scope,
          callbackURL: `${options.issuer}${options.callbackPath}`,
          sessionKey: 'oidc',
          passReqToCallback: true,
        },
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
  };
}
