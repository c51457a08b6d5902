import type { Request } from 'express';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { VerifyFunctionWithRequest } from 'openid-client/passport';
import { ownRelyingParty, type OwnRelyingParty } from '../http/own-relying-party.ts';
import type { Logger } from '../../core/logger.ts';
import type { GatewayContext } from '../context.ts';
import { accessEndedSince } from '../accounts/end-access.ts';
import { PORTAL_CLIENT_ID, portalClientSecret } from './portal-client.ts';

const STRATEGY = 'atrium-portal';
/** Chat on the domain nodes needs `im` there and a refresh token to mint one access token per node. */
export const PORTAL_SCOPE = 'openid profile email atrium im offline_access';

/** Who is signed in to the portal; reloaded from the database on every request. */
export type PortalUser = { id: string; username: string; name: string };

/** What the strategy hands the callback route. */
export type SignedIn = {
  user: PortalUser;
  idToken: string | undefined;
  refreshToken: string;
  gatewaySid: string | undefined;
};

export type PortalAuth = OwnRelyingParty & {
  /** A JWT access token for one domain node (its URL as the resource), and the rotated refresh token. */
  refresh(
    refreshToken: string,
    resource: string,
  ): Promise<{ accessToken: string; expiresAt: number; refreshToken: string }>;
  /** Best effort: the grant behind it is revoked with it. */
  revoke(refreshToken: string): Promise<void>;
};

type AuthDeps = {
  issuer: string;
  secretKey: string;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
};

/**
 * The portal as a relying party of its own gateway, like the admin console: a private passport instance
 * with openid-client's strategy (PKCE included). Unlike the console it keeps a refresh token, server-side
 * only, because the page needs a fresh access token per domain node for as long as it stays open.
 */
export function createPortalAuth(deps: AuthDeps): PortalAuth {
  const verify: VerifyFunctionWithRequest = async (req, tokens, verified) => signIn(deps, req, tokens, verified);
  const party = ownRelyingParty({
    issuer: deps.issuer,
    clientId: PORTAL_CLIENT_ID,
    clientSecret: portalClientSecret(deps.secretKey),
    scope: PORTAL_SCOPE,
    strategy: STRATEGY,
    callbackPath: '/portal/callback',
    signedOutPath: '/portal/signed-out',
    pendingKey: 'portalSignIns',
    verify,
    logger: deps.logger,
    label: 'portal',
  });
  const authenticator = party.passport;
  const ready = party.ready;

  // When the person signed in, so that ending their access later (a reset, "sign out everywhere",
  // disabling) ends this session too, even once the account is enabled again.
  authenticator.serializeUser((user, done) => done(null, { id: (user as PortalUser).id, signedInAt: Date.now() }));
  authenticator.deserializeUser((stored: unknown, done: (err: unknown, user?: Express.User | false) => void) => {
    const { id, signedInAt } = (stored ?? {}) as { id?: unknown; signedInAt?: unknown };
    if (typeof id !== 'string') return done(null, false);
    deps
      .context(null)
      .models.User.findByPk(id)
      .then(
        (user) =>
          done(
            null,
            user?.status === 'active' && !accessEndedSince(user, typeof signedInAt === 'number' ? signedInAt : 0)
              ? ({ id: user.id, username: user.username, name: user.displayName } satisfies PortalUser)
              : false,
          ),
        done,
      );
  });

  return {
    ...party,
    async refresh(refreshToken, resource) {
      const result = await client.refreshTokenGrant(await ready(), refreshToken, { resource });
      // Node tokens are JWTs: their own expiry is exact, where expires_in is relative to an unknown moment.
      const exp = decodeJwt(result.access_token).exp;
      return {
        accessToken: result.access_token,
        expiresAt: exp ? exp * 1000 : Date.now() + (result.expires_in ?? 300) * 1000,
        refreshToken: result.refresh_token ?? refreshToken,
      };
    },
    async revoke(refreshToken) {
      await client
        .tokenRevocation(await ready(), refreshToken, { token_type_hint: 'refresh_token' })
        .catch((err: unknown) => deps.logger.warn({ err }, 'portal could not revoke a refresh token'));
    },
  };
}

/** The portal admits any active account, and needs the refresh token the gateway grants first-party clients. */
async function signIn(
  deps: AuthDeps,
  req: Parameters<VerifyFunctionWithRequest>[0],
  tokens: Parameters<VerifyFunctionWithRequest>[1],
  verified: Parameters<VerifyFunctionWithRequest>[2],
) {
  const claims: Record<string, unknown> = tokens.claims() ?? {};
  const user = await deps.context(req).models.User.findByPk(String(claims.sub));
  if (!user || user.status !== 'active') return verified(null, false, { message: 'This account is not active.' });
  if (!tokens.refresh_token)
    return verified(null, false, { message: 'The gateway did not grant offline access to the portal.' });
  const signedIn: SignedIn = {
    user: { id: user.id, username: user.username, name: user.displayName },
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token,
    gatewaySid: typeof claims.sid === 'string' ? claims.sid : undefined,
  };
  verified(null, signedIn);
}
