import type { Response } from 'express';
import { isAppError } from './errors.ts';

/** For a 429 whose error does not say how long: a client that retries sooner is refused again anyway. */
const FALLBACK_SECONDS = 60;

/**
 * Every 429 tells the client when to come back (`Retry-After`, in seconds), as docs/protocol.md promises:
 * without it a well-behaved client can only guess, and guesses tend to be too soon. The seconds come
 * from the error's `retryAfterSeconds` (RateLimitedError, AccountLockedError).
 */
export function setRetryAfter(res: Response, error: unknown): void {
  // A 503 that knows when to come back (a campus directory that is not answering) says so too.
  const unavailableFor = isAppError(error) && error.status === 503 && error.details?.retryAfterSeconds !== undefined;
  if (!isAppError(error) || (error.status !== 429 && !unavailableFor)) return;
  const seconds = Number(error.details?.retryAfterSeconds);
  res.set('Retry-After', String(Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : FALLBACK_SECONDS));
}
