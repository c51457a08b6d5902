import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { AppError, isAppError, UnauthenticatedError } from '../../core/errors.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';

/** Refusals said as themselves, because the client acts differently on each (docs/protocol.md, "HTTP API"). */
const TOLD_AS_IS = new Set(['token_expired', 'token_revoked', 'client_disabled']);

/**
 * The HTTP API accepts the same gateway access tokens as the sockets, through a passport bearer strategy
 * on a passport instance of this node's own (several nodes can share a process).
 */
export function bearerAuth(verifier: TokenVerifier) {
  const authenticator = new passport.Passport();
  authenticator.use(
    new BearerStrategy((token, done) => {
      verifier.verify(token).then(
        (identity) => done(null, identity),
        // A gateway failure, an expired or ended token, or a token of a disabled app is said as such; any other refusal is a plain 401.
        (error: unknown) =>
          done(isAppError(error) && (error.status >= 500 || TOLD_AS_IS.has(error.code)) ? error : invalidToken()),
      );
    }),
  );
  const middleware = authenticator.authenticate('bearer', { session: false, failWithError: true });
  return (req: Request, res: Response, next: NextFunction) =>
    middleware(req, res, (error?: unknown) => {
      if (!error) return next();
      const refusal = isAppError(error)
        ? error
        : new UnauthenticatedError('A valid bearer access token for this node is required');
      if (refusal.status === 401) res.set('WWW-Authenticate', challenge(req, refusal));
      next(refusal);
    });
}

const invalidToken = () => new UnauthenticatedError('The access token is not valid for this node');

/**
 * RFC 6750's challenge: no error when no token came; `invalid_token` for a token that was refused, with
 * the reason, so that a client knows to refresh it (the JSON body's `code` says which refusal it was).
 */
function challenge(req: Request, error: AppError): string {
  if (!/^Bearer\s+\S/i.test(req.get('authorization') ?? '')) return 'Bearer realm="atrium"';
  return `Bearer realm="atrium", error="invalid_token", error_description="${error.message.replace(/["\\]/g, '')}"`;
}

export function actorOf(req: Request): Identity {
  return req.user as Identity;
}
