import type { Request } from 'express';

declare module 'express-session' {
  interface SessionData {
    /**
     * What one page shows once after a POST-redirect-GET, beyond the one-line flash: a refusal with its
     * details, or new secrets (sealed). Kept for the page at `path` only, and only briefly.
     */
    afterRedirect?: { path: string; at: number; data: unknown };
  }
}

/** A page that is never opened after its redirect (a closed tab) does not keep its result past this. */
const KEEP_MS = 10 * 60 * 1000;

/**
 * Keeps what the page at `path` should show after the action's redirect, so that reloading that page
 * repeats nothing: the action was done (or refused) once, by the POST. Only the latest result is kept.
 */
export function keepForPage(req: Request, path: string, data: unknown): void {
  req.session.afterRedirect = { path, at: Date.now(), data };
}

/**
 * What was kept for the page at `path`, handed out once: the next view of the page, a reload among them,
 * finds nothing. A result kept for another page stays for that page unless it is stale.
 */
export function takeForPage(req: Request, path: string): unknown {
  const kept = req.session?.afterRedirect;
  if (!kept) return undefined;
  const stale = Date.now() - kept.at > KEEP_MS;
  if (kept.path !== path && !stale) return undefined;
  delete req.session.afterRedirect;
  return kept.path === path && !stale ? kept.data : undefined;
}
