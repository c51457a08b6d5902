import type { ErrorRequestHandler } from 'express';
import { isAppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { setRetryAfter } from '../../core/retry-after.ts';
import { signInOverPath } from '../interactions/sign-in-over.ts';

type OidcLikeError = Error & {
  status?: number;
  statusCode?: number;
  error?: string;
  error_description?: string;
  expose?: boolean;
};

/**
 * The one place an error becomes a response: JSON for API routes, the error page elsewhere.
 * Unknown errors are logged and shown as a generic failure.
 */
export function onError(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) return next(error);
    let status = 500;
    let code = 'internal_error';
    let message = 'Something went wrong on our side. Please try again.';
    let fields: Record<string, string> | undefined;
    if (isAppError(error)) {
      status = error.status;
      code = error.code;
      message = error.message;
      fields = (error.details?.fields as Record<string, string> | undefined) ?? undefined;
      setRetryAfter(res, error);
    } else if (isOidcError(error)) {
      status = error.statusCode ?? error.status ?? 400;
      code = error.error ?? 'invalid_request';
      message = oidcMessage(error);
    } else if (isBodyError(error)) {
      status = error.status;
      code = 'invalid_body';
      message =
        error.type === 'entity.too.large' ? 'The request body is too large.' : 'The request body could not be read.';
    } else {
      logger.error({ err: error, path: req.path }, 'unhandled error');
    }
    res.status(status);
    if (
      req.path.startsWith('/api/') ||
      req.path.startsWith('/federation/') ||
      req.accepts(['html', 'json']) === 'json'
    ) {
      res.json({ error: { code, message, ...(fields ? { fields } : {}) } });
      return;
    }
    const signIn = signInUid(req.path);
    // A sign-in page asked for, or its form sent, once the sign-in is over (Back from the app, a reload, a
    // page the browser kept): the page that says so and leads on, by a redirect, so a post is not repeated.
    if (signIn && isOidcError(error) && error.name === 'SessionNotFound' && !req.path.endsWith('/over'))
      return res.redirect(303, signInOverPath(signIn));
    // Any other refusal at a sign-in leads back to its step, which shows where it stands.
    const wayOn = signIn ? { href: `/interaction/${encodeURIComponent(signIn)}`, label: 'Back to signing in' } : null;
    res.render('error', { title: 'Something went wrong', error: code, description: message, wayOn });
  };
}

/** The uid of the sign-in whose page or form `path` is, if it is one. */
const signInUid = (path: string): string | null => /^\/interaction\/([^/]+)/.exec(path)?.[1] ?? null;

function isOidcError(error: unknown): error is OidcLikeError {
  return (
    error instanceof Error &&
    typeof (error as OidcLikeError).error === 'string' &&
    (error as OidcLikeError).expose === true
  );
}

function isBodyError(error: unknown): error is Error & { status: number; type: string } {
  return (
    error instanceof Error &&
    typeof (error as { type?: unknown }).type === 'string' &&
    typeof (error as { status?: unknown }).status === 'number'
  );
}

function oidcMessage(error: OidcLikeError): string {
  if (error.name === 'SessionNotFound')
    return 'Your sign-in attempt expired or was started in another browser. Go back to the app and start again.';
  return error.error_description ?? error.message;
}
