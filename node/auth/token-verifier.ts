import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AppError, ForbiddenError, UnauthenticatedError } from '../../core/errors.ts';
import { lastingWarnings, type LastingWarnings } from '../../core/lasting-warnings.ts';
import type { Logger } from '../../core/logger.ts';
import { addressOf } from '../../protocol/address.ts';
import type { EndedAccess } from './ended-access.ts';
import { createGatewayKeys } from './gateway-keys.ts';

/**
 * Who a verified access token speaks for on this node: a person, or an app (client credentials).
 * `issuedAt` (epoch ms) is the token's; identities made up inside the node (a remote member) have none.
 */
export type Identity =
  | {
      kind: 'user';
      sub: string;
      username: string;
      name: string;
      address: string;
      sid: string | null;
      clientId: string;
      issuedAt?: number;
      expiresAt: number;
    }
  | {
      kind: 'app';
      clientId: string;
      slug: string;
      name: string;
      address: string;
      issuedAt?: number;
      expiresAt: number;
    };

export class TokenExpiredError extends AppError {
  constructor() {
    super('token_expired', 401, 'The access token has expired; get a new one with the refresh token');
  }
}

/**
 * The token is genuine and unexpired, but the access it was issued for has ended at the gateway (its
 * session was signed out, or the person was disabled, had their password reset or was signed out
 * everywhere). A refresh may still work (offline access that outlives a sign-out); otherwise sign in again.
 */
export class TokenRevokedError extends AppError {
  constructor() {
    super('token_revoked', 401, 'This sign-in has ended at the gateway; refresh the token or sign in again');
  }
}

/** The longest an access token may last here unless the node is told otherwise (MAX_TOKEN_LIFETIME_SECONDS). */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;
/** How far ahead of this node's clock a token may say it was issued: the gateway's clock may be ahead a little. */
export const TOKEN_CLOCK_SKEW_SECONDS = 60;

/**
 * A token signed with a key of the gateway's that the gateway would not issue so: one that says not when it
 * was issued or expires, was issued in the future, or lasts longer than the node accepts. The node keeps the
 * gateway's keys through an outage, so a key retired or leaked meanwhile still verifies here; this bounds
 * what a token signed with it can claim. Told as it is (an `unauthenticated` 401, `invalid_token`).
 */
export class TokenLifetimeError extends UnauthenticatedError {}

/** Seconds as a person reads them: 90 s, 2 h, 30 days. */
function spanOf(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** Refuses a token whose `iat` and `exp` the gateway would not have given it (TokenLifetimeError). */
function assertIssuedLifetime(payload: JWTPayload, nowMs: number, maxSeconds: number): void {
  const { iat, exp } = payload;
  if (typeof iat !== 'number' || typeof exp !== 'number')
    throw new TokenLifetimeError('The access token does not say when it was issued and when it expires (iat, exp)');
  const ahead = Math.round(iat - nowMs / 1000);
  if (ahead > TOKEN_CLOCK_SKEW_SECONDS)
    throw new TokenLifetimeError(
      `The access token says it was issued ${spanOf(ahead)} from now, more than the ${TOKEN_CLOCK_SKEW_SECONDS} s allowed for clocks that differ: set the clocks of the gateway and this node right`,
    );
  if (exp - iat > maxSeconds)
    throw new TokenLifetimeError(
      `The access token would last ${spanOf(Math.round(exp - iat))}, longer than this node accepts (${spanOf(maxSeconds)}, MAX_TOKEN_LIFETIME_SECONDS): the gateway issues none so long; get a new one`,
    );
}

/**
 * A genuine token for this node without the scope `im`, which every node requires (RFC 6750 `insufficient_scope`,
 * HTTP 403): the client asked the gateway for the node without asking for the scope.
 */
export class InsufficientScopeError extends ForbiddenError {
  readonly scope = 'im';

  constructor(audience: string) {
    super(
      `The access token lacks scope im, without which no node takes it: ask the gateway for scope im along with resource=${audience}`,
    );
  }
}

/**
 * Tells the operator of a token refused for its issuer or its audience alone: jose checks those claims only
 * once the signature verified with a key of the gateway's, so the gateway did issue it, and the likelier
 * fault is this node's settings (GATEWAY_ISSUER spelt otherwise than the gateway's issuer, NODE_PUBLIC_URL
 * not the URL registered for the domain), which would otherwise refuse everyone in silence. Said at `warn`
 * once per value received, again every few minutes while tokens keep coming (lasting-warnings.ts); the
 * client is told no more than before.
 */
function warnMisaddressed(
  warnings: LastingWarnings,
  error: unknown,
  expected: { issuer: string; audience: string; domain: string },
): void {
  if (!(error instanceof joseErrors.JWTClaimValidationFailed) || error.reason !== 'check_failed') return;
  const { claim, payload } = error;
  if (claim === 'iss') {
    const received = String(payload.iss);
    warnings.warn(
      `token-issuer:${received}`,
      { expected: expected.issuer, received, setting: 'GATEWAY_ISSUER' },
      `Refused access tokens signed with a key of the gateway's but issued by ${received}, while this node expects ${expected.issuer} (GATEWAY_ISSUER): set GATEWAY_ISSUER to the gateway's issuer exactly as the gateway spells it`,
    );
  } else if (claim === 'aud') {
    const received = [payload.aud ?? []].flat().map(String).join(' ');
    warnings.warn(
      `token-audience:${received}`,
      { expected: expected.audience, received, setting: 'NODE_PUBLIC_URL' },
      `Refused access tokens signed with a key of the gateway's but issued for ${received}, while this node's URL is ${expected.audience} (NODE_PUBLIC_URL): if ${received} is this node, set NODE_PUBLIC_URL to it, or give the gateway this node's URL (atrium domains update ${expected.domain} --url ${expected.audience}); if it is another node, clients sent this one tokens meant for that one`,
    );
  }
}

/** A token the gateway signed for another node (a bot holding one token per node mixed them up). */
export class TokenForAnotherNodeError extends UnauthenticatedError {}

/**
 * A token refused for its audience alone (its signature verified, so the gateway issued it) tells its
 * holder which node it was for and which `resource` this node needs: the holder can read the token anyway.
 */
function forAnotherNode(error: unknown, audience: string): TokenForAnotherNodeError | undefined {
  if (!(error instanceof joseErrors.JWTClaimValidationFailed) || error.claim !== 'aud') return undefined;
  const received = [error.payload.aud ?? []].flat().map(String).join(' ');
  return new TokenForAnotherNodeError(
    `The access token was issued for ${received}, not this node: ask the gateway for one with resource=${audience}`,
  );
}

export type TokenVerifier = {
  verify(token: string): Promise<Identity>;
  /** The gateway's key set, for other tokens it signs (back-channel logout). */
  keys(): Promise<JWTVerifyGetKey>;
};

/**
 * Verifies gateway access tokens locally: signature against the gateway's JWKS (gateway-keys.ts: held
 * through an outage of the gateway, fetched again when a token names an unknown key, so a key rotation
 * needs no restart), issuer, audience (this node), expiry, a lifetime the gateway issues (`iat` not ahead
 * of this node's clock, `exp - iat` at most `maxLifetimeSeconds`), the `im` scope, and that the person
 * belongs to this domain. `now` is the clock expiry and the key set's age are judged by (the machine's
 * unless a test moves it); `logger` hears when the gateway's keys cannot be fetched, and of tokens refused
 * for their lifetime, their issuer or their audience.
 */
export function createTokenVerifier(options: {
  issuer: string;
  audience: string;
  domain: string;
  jwks?: JWTVerifyGetKey;
  now?: () => number;
  logger?: Logger;
  /** The longest lifetime (`exp - iat`) of a token accepted here (DEFAULT_MAX_TOKEN_LIFETIME_SECONDS unless told). */
  maxLifetimeSeconds?: number;
}): TokenVerifier {
  const maxLifetime = options.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  const warnings = options.logger && lastingWarnings(options.logger);
  const keys =
    options.jwks ?? createGatewayKeys({ issuer: options.issuer, now: options.now ?? Date.now, logger: options.logger });
  const keySet = async (): Promise<JWTVerifyGetKey> => keys;

  return {
    keys: keySet,
    async verify(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          algorithms: ['RS256'],
          ...(options.now ? { currentDate: new Date(options.now()) } : {}),
        }));
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) throw new TokenExpiredError();
        if (error instanceof AppError) throw error;
        if (warnings) warnMisaddressed(warnings, error, options);
        throw (
          forAnotherNode(error, options.audience) ??
          new UnauthenticatedError('The access token is not valid for this node')
        );
      }
      try {
        assertIssuedLifetime(payload, options.now?.() ?? Date.now(), maxLifetime);
      } catch (error) {
        // Signed with a key of the gateway's, yet not as the gateway issues tokens: the operator must hear of it.
        warnings?.warn(
          'token-lifetime',
          { clientId: payload.client_id, iat: payload.iat, exp: payload.exp, maxLifetimeSeconds: maxLifetime },
          "Refused access tokens signed with a key of the gateway's that the gateway would not issue (lasting longer than MAX_TOKEN_LIFETIME_SECONDS, issued in the future, or without iat or exp): the gateway's ACCESS_TOKEN_TTL_SECONDS is above this node's limit, a clock is off, or a key of the gateway's signs tokens elsewhere",
        );
        throw error;
      }
      const scopes = String(payload.scope ?? '').split(' ');
      if (!scopes.includes('im')) throw new InsufficientScopeError(options.audience);
      const clientId = String(payload.client_id ?? '');
      const expiresAt = Number(payload.exp) * 1000;
      if (payload.sub === clientId) {
        // An app speaks here only as its bot, which the gateway vouches for in the token: slug@domain.
        if (payload.bot !== true || typeof payload.app_slug !== 'string' || !payload.app_slug) {
          throw new ForbiddenError('This app has no bot; an administrator must enable it first');
        }
        const slug = payload.app_slug;
        const name = typeof payload.app_name === 'string' ? payload.app_name : slug;
        const issuedAt = Number(payload.iat ?? 0) * 1000;
        return { kind: 'app', clientId, slug, name, address: addressOf(slug, options.domain), issuedAt, expiresAt };
      }
      const domains = Array.isArray(payload.im_domains) ? payload.im_domains : [];
      if (!domains.includes(options.domain))
        throw new ForbiddenError(`This account does not belong to ${options.domain}`);
      const username = String(payload.preferred_username ?? '');
      if (!username) throw new UnauthenticatedError('The access token names no user');
      return {
        kind: 'user',
        sub: String(payload.sub),
        username,
        name: String(payload.name ?? username),
        address: addressOf(username, options.domain),
        sid: typeof payload.sid === 'string' ? payload.sid : null,
        clientId,
        issuedAt: Number(payload.iat ?? 0) * 1000,
        expiresAt,
      };
    },
  };
}

export class ClientDisabledError extends AppError {
  constructor(kind: Identity['kind'] = 'user') {
    super(
      'client_disabled',
      401,
      kind === 'app'
        ? "This bot's app, or the bot itself, has been disabled"
        : 'The app this token was issued to has been disabled',
    );
  }
}

/**
 * A verifier that also refuses the tokens of an app that may no longer be used here (`clientActive`, asked
 * of the gateway and cached): people's tokens issued to a disabled client, and the bot tokens of an app
 * disabled, deleted or without its bot. Disabling an app reaches the nodes within that cache time instead
 * of when its tokens expire.
 */
export function refusingDisabledClients(
  verifier: TokenVerifier,
  clientActive: (identity: Identity) => Promise<boolean>,
): TokenVerifier {
  return {
    keys: verifier.keys,
    async verify(token) {
      const identity = await verifier.verify(token);
      if (!(await clientActive(identity))) throw new ClientDisabledError(identity.kind);
      return identity;
    },
  };
}

/**
 * A verifier that also refuses people's tokens issued before the gateway ended their session or all of
 * their access (sign-out, disable, password reset, "sign out everywhere"): see ended-access.ts.
 */
export function refusingEndedAccess(verifier: TokenVerifier, ended: EndedAccess): TokenVerifier {
  return {
    keys: verifier.keys,
    async verify(token) {
      const identity = await verifier.verify(token);
      if (
        identity.kind === 'user' &&
        identity.issuedAt !== undefined &&
        ended.endedFor({ ...identity, issuedAt: identity.issuedAt })
      )
        throw new TokenRevokedError();
      return identity;
    },
  };
}
