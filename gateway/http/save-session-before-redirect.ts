import type { NextFunction, Request, Response } from 'express';

type Redirect = (...args: unknown[]) => void;

/**
 * express-session stores a changed session while it sends the response, and lets the headers go out
 * before the store has answered. A browser follows a redirect on its headers, so the page it asks for
 * next could read the session as it was before the post: the notice of what was done missing, a
 * confirmation or a sign-in step forgotten. With this mounted right after the session (and passport)
 * middleware, a redirect waits until a session that changed is stored; an unchanged one goes at once.
 */
export function saveSessionBeforeRedirect(req: Request, res: Response, next: NextFunction): void {
  const loaded = JSON.stringify(req.session ?? null);
  const redirect = res.redirect.bind(res) as Redirect;
  const waiting: Redirect = (...args) => {
    const session = req.session;
    if (!session || JSON.stringify(session) === loaded) return redirect(...args);
    session.save((error: unknown) => (error ? next(error) : redirect(...args)));
  };
  res.redirect = waiting as Response['redirect'];
  next();
}
