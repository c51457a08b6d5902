import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Auth } from './auth.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Whose sign-ins a logout token ends: one gateway session (`sid`), or every session of a person (`sub`). */
export type LogoutSubject = { sub?: string; sid?: string };

/** A logout token that does not prove the gateway wants this app to end a session (answered with 400). */
export class LogoutRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`logout token refused: ${reason}`);
    this.reason = reason;
  }
}

/**
 * Checks a back-channel logout token as OIDC Back-Channel Logout 1.0 (section 2.6) asks: signed by the
 * gateway with a key of its JWKS, issued by it for this app, recent, a logout event and not an ID token
 * (no nonce), naming a session or a person. Only failures of the token are LogoutRejected; the gateway
 * being unreachable is thrown as it is, so the logout is answered with a 5xx and tried again.
 */
export function createLogoutVerifier(auth: Auth, clientId: string): (token: unknown) => Promise<LogoutSubject> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  return async (token) => {
    if (typeof token !== 'string' || token === '') throw new LogoutRejected('logout_token is missing');
    const metadata = (await auth.ready()).serverMetadata();
    jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri!));
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, jwks, {
        issuer: metadata.issuer,
        audience: clientId,
        requiredClaims: ['iat'],
        maxTokenAge: '2m',
        clockTolerance: 30,
      });
    } catch (error) {
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) throw error;
      throw new LogoutRejected(error.code);
    }
    const { payload, protectedHeader } = verified;
    // Explicit typing keeps an ID token or another JWT of the gateway's from passing as a logout.
    if (protectedHeader.typ !== undefined && !/^(application\/)?logout\+jwt$/i.test(protectedHeader.typ))
      throw new LogoutRejected(`typ ${protectedHeader.typ}`);
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events?.[LOGOUT_EVENT];
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw new LogoutRejected('no back-channel logout event');
    if ('nonce' in payload) throw new LogoutRejected('carries a nonce');
    const sub = typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined;
    const sid = typeof payload.sid === 'string' && payload.sid ? payload.sid : undefined;
    if (!sub && !sid) throw new LogoutRejected('names neither a session nor a person');
    return { ...(sub ? { sub } : {}), ...(sid ? { sid } : {}) };
  };
}
