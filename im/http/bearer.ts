import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { isAppError, UnauthenticatedError } from '../../core/errors.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';

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
        // A gateway failure, or a token of a disabled app, is said as such; any other refusal is a plain 401.
        (error: unknown) => (isAppError(error) && (error.status >= 500 || error.code === 'client_disabled') ? done(error) : done(null, false, { message: (error as Error).message, scope: 'im' })),
      );
    }),
  );
  const middleware = authenticator.authenticate('bearer', { session: false, failWithError: true });
  return (req: Request, res: Response, next: NextFunction) =>
    middleware(req, res, (error?: unknown) => {
      if (error) return next(isAppError(error) ? error : new UnauthenticatedError('A valid bearer access token for this node is required'));
      next();
    });
}

export function actorOf(req: Request): Identity {
  return req.user as Identity;
}
