import type { NextFunction, Request, Response } from 'express';
import { AppError, isAppError, UnauthenticatedError } from '../../core/errors.ts';
import { DomainRemovedError } from '../auth/domain-standing.ts';
import {
  InsufficientScopeError,
  TokenForAnotherNodeError,
  TokenLifetimeError,
  type Identity,
  type TokenVerifier,
} from '../auth/token-verifier.ts';

/** Refusals said as themselves, because the client acts differently on each (docs/protocol.md, "HTTP API"). */
const TOLD_AS_IS = new Set(['token_expired', 'token_revoked', 'client_disabled']);

declare module 'express-serve-static-core' {
  interface Request {
    nodeIdentity?: Identity;
  }
}

/** RFC 6750's header form, the only one taken: `Authorization: Bearer <token>`. */
function bearerOf(req: Request): string | undefined {
  return /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(req.get('authorization') ?? '')?.[1];
}

/**
 * RFC 6750's other forms, a token in the query string (`access_token`) or in a form body, end up in proxy
 * logs, browser history and Referer headers; a request carrying one is refused, even with a header, so
 * that a client doing it learns at once rather than leaking tokens that happen to work.
 */
function tokenOutsideHeader(req: Request): boolean {
  const body = req.body as Record<string, unknown> | undefined;
  return req.query.access_token !== undefined || (typeof body === 'object' && body !== null && 'access_token' in body);
}

/** The HTTP API accepts the same gateway access tokens as the sockets, from the Authorization header only. */
export function bearerAuth(verifier: TokenVerifier) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (tokenOutsideHeader(req)) {
        throw new UnauthenticatedError(
          'Send the access token in the Authorization header (Bearer …), never in the URL or the body; this one may have been logged, so get a new one',
        );
      }
      const token = bearerOf(req);
      if (!token) throw new UnauthenticatedError('A valid bearer access token for this node is required');
      req.nodeIdentity = await verifier.verify(token).catch((error: unknown) => {
        // A gateway failure, an expired or ended token, a token of a disabled app, one of a lifetime the
        // gateway does not issue, one without scope im, one for another node, or a node whose domain was
        // removed is said as such; any other refusal is a plain 401.
        throw isAppError(error) &&
          (error.status >= 500 ||
            TOLD_AS_IS.has(error.code) ||
            error instanceof DomainRemovedError ||
            error instanceof TokenLifetimeError ||
            error instanceof TokenForAnotherNodeError ||
            error instanceof InsufficientScopeError)
          ? error
          : invalidToken();
      });
      next();
    } catch (error) {
      if (isAppError(error) && error.status === 401) res.set('WWW-Authenticate', challenge(req, error));
      if (error instanceof InsufficientScopeError) res.set('WWW-Authenticate', scopeChallenge(error));
      next(error);
    }
  };
}

const invalidToken = () => new UnauthenticatedError('The access token is not valid for this node');

/**
 * RFC 6750's challenge: no error when no token came; `invalid_token` for a token that was refused, with
 * the reason, so that a client knows to refresh it (the JSON body's `code` says which refusal it was).
 */
function challenge(req: Request, error: AppError): string {
  if (!/^Bearer\s+\S/i.test(req.get('authorization') ?? '') || tokenOutsideHeader(req)) return 'Bearer realm="atrium"';
  return `Bearer realm="atrium", error="invalid_token", error_description="${error.message.replace(/["\\]/g, '')}"`;
}

/** RFC 6750's challenge for a token without the scope every node requires: which one to ask the gateway for. */
function scopeChallenge(error: InsufficientScopeError): string {
  return `Bearer realm="atrium", error="insufficient_scope", scope="${error.scope}", error_description="${error.message.replace(/["\\]/g, '')}"`;
}

export function actorOf(req: Request): Identity {
  return req.nodeIdentity as Identity;
}
