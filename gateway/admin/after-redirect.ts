import type { Request } from 'express';

declare module 'express-session' {
  interface SessionData {
    /**
     * What a page shows once after a POST-redirect-GET, beyond the one-line flash (a refusal with its
     * details, new secrets sealed), by the page's path, and only briefly.
     */
    afterRedirect?: Record<string, { at: number; data: unknown }>;
  }
}

/** A page that is never opened after its redirect (a closed tab) does not keep its result past this. */
const KEEP_MS = 10 * 60 * 1000;

/**
 * Keeps what the page at `path` should show after the action's redirect, so that reloading that page
 * repeats nothing: the action was done (or refused) once, by the POST. Each page keeps its latest.
 */
export function keepForPage(req: Request, path: string, data: unknown): void {
  const now = Date.now();
  const kept = Object.entries(req.session.afterRedirect ?? {}).filter(([, v]) => now - v.at <= KEEP_MS);
  req.session.afterRedirect = { ...Object.fromEntries(kept), [path]: { at: now, data } };
}

/** What was kept for the page at `path`, handed out once: the next view of the page, a reload among them, finds nothing. */
export function takeForPage(req: Request, path: string): unknown {
  const all = req.session?.afterRedirect;
  const kept = all?.[path];
  if (!all || !kept) return undefined;
  delete all[path];
  if (Object.keys(all).length === 0) delete req.session.afterRedirect;
  return Date.now() - kept.at <= KEEP_MS ? kept.data : undefined;
}
