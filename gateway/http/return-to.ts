import type { Request } from 'express';

/**
 * How long a page asked for while signed out is gone back to after sign-in: about the time one sign-in
 * takes. A sign-in abandoned there must not send a much later, unrelated one back to that page.
 */
export const RETURN_TO_MINUTES = 10;

declare module 'express-session' {
  interface SessionData {
    /** The page a signed-out GET asked for (a path of this site) and until when it is gone back to. */
    returnTo?: { path: string; until: number };
  }
}

/** What a session may go back to: the path itself when it is one allowed, else where a sign-in lands by default. */
export type ReturnToCheck = (value: unknown) => string;

/** Remembers the page a signed-out GET asked for, when `check` allows it, to go back to once signed in. */
export function rememberReturnTo(req: Request, check: ReturnToCheck): void {
  if (req.method !== 'GET' || check(req.originalUrl) !== req.originalUrl) return;
  req.session.returnTo = { path: req.originalUrl, until: Date.now() + RETURN_TO_MINUTES * 60_000 };
}

/** Forgets the remembered page: a sign-in started elsewhere lands where it would by default. */
export function forgetReturnTo(req: Request): void {
  if (req.session?.returnTo) delete req.session.returnTo;
}

/**
 * The page to go back to after a sign-in's callback, used once: taken by a sign-in that succeeds only, so a
 * failed or cancelled one leaves it to the next try (within its ten minutes). One expired, not allowed, or
 * remembered by an earlier version (a bare string, with no time) gives the default.
 */
export function takeReturnTo(req: Request, check: ReturnToCheck): string {
  const remembered = req.session.returnTo;
  forgetReturnTo(req);
  const fresh = typeof remembered?.until === 'number' && remembered.until > Date.now();
  return check(fresh ? remembered.path : undefined);
}
