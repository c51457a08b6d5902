import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { html, page } from './html.ts';

declare module 'express-session' {
  interface SessionData {
    csrf?: string;
  }
}

/** The session's form token, made on first use. */
export function csrfToken(req: Request): string {
  req.session.csrf ??= randomBytes(32).toString('base64url');
  return req.session.csrf;
}

/**
 * Every form post must carry the session's token: another site can neither read nor guess it. A post
 * from a page whose session has ended meanwhile (signed out, or the gateway ended it over the back
 * channel) is told so, with the way back in, rather than blamed on an expired form. `chatUrl` is the
 * campus chat the pages link back to.
 */
export const csrfCheck =
  (chatUrl: string) =>
  (req: Request, res: Response, next: NextFunction): void => {
    if (!req.user) {
      const why = req.session.endedByCampus
        ? 'Your campus sign-in ended (signed out elsewhere, or by an administrator), so nothing was sent.'
        : 'Your session here has ended, so nothing was sent.';
      res
        .status(401)
        .type('html')
        .send(
          page(
            'Signed out',
            html`<h1>You are signed out</h1><p>${why}</p><p><a href="/login">Sign in again</a></p>`,
            chatUrl,
          ),
        );
      return;
    }
    const expected = Buffer.from(req.session.csrf ?? '');
    const given = Buffer.from(typeof req.body?._csrf === 'string' ? req.body._csrf : '');
    if (expected.length === 0 || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      res
        .status(403)
        .type('text/plain')
        .send('This form has expired or did not come from this site; go back and reload it.');
      return;
    }
    next();
  };
