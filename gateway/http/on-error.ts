import type { ErrorRequestHandler } from 'express';
import { isAppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { setRetryAfter } from '../../core/retry-after.ts';

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
    res.render('error', { title: 'Something went wrong', error: code, description: message });
  };
}

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
