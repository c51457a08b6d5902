import type { Request } from 'express';

/**
 * Only a page of the account or the portal on this gateway may be resumed after sign-in: a path of its
 * own, never another site (`//host`), nor characters a browser might read as one.
 */
export function portalReturnTo(value: unknown): string {
  if (typeof value === 'string' && /^\/(account|portal)\/[A-Za-z0-9/_.%?&=+-]*$/.test(value) && !value.includes('//'))
    return value;
  return '/';
}

/** Remembers the page a signed-out GET asked for, to go back to once signed in (the admin console does the same). */
export function rememberReturnTo(req: Request): void {
  if (req.method === 'GET') req.session.returnTo = req.originalUrl;
}
