import type { ErrorRequestHandler } from 'express';
import { isAppError } from './errors.ts';
import type { Logger } from './logger.ts';
import { setRetryAfter } from './retry-after.ts';

/** The one place an API error becomes a JSON body: `{ error: { code, message, fields? } }`. */
export function jsonErrors(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) return next(error);
    if (isAppError(error)) {
      const fields = error.details?.fields as Record<string, string> | undefined;
      // A route that knows more (node/http/bearer.ts: why the token was refused) has set its own challenge.
      if (error.status === 401 && !res.get('WWW-Authenticate')) res.set('WWW-Authenticate', 'Bearer');
      setRetryAfter(res, error);
      res
        .status(error.status)
        .json({ error: { code: error.code, message: error.message, ...(fields ? { fields } : {}) } });
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const type = (error as { type?: string }).type;
      res.status(status).json({
        error: { code: type === 'entity.too.large' ? 'too_large' : 'invalid_body', message: bodyWords(type) },
      });
      return;
    }
    logger.error({ err: error, path: req.path }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal_error', message: 'Something went wrong; try again' } });
  };
}

/** Why body-parser refused a body, in words that say what to send instead. */
function bodyWords(type: string | undefined): string {
  if (type === 'entity.too.large') return 'The request body is too large';
  // A form or plain text where JSON was expected, JSON with a syntax error, or JSON that is not an object.
  if (type === 'entity.parse.failed') return 'The request body is not a JSON object; send one (application/json)';
  return 'The request body could not be read';
}
