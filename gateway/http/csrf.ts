import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../../core/errors.ts';

/**
 * Over https the cookie is `__Host-` prefixed: a browser then takes it only from this very host, never from
 * a sibling (a campus's `www.` or a student's pages under the same domain are the same *site*, so SameSite
 * does not stop their forms, and without the prefix they could set their own cookie, with the token they
 * got for it here, in a visitor's browser). A plain-http demo cannot use the prefix.
 */
export const csrfCookieName = (secure: boolean) => (secure ? '__Host-atrium.csrf' : 'atrium.csrf');

export class CsrfError extends AppError {
  constructor() {
    super(
      'csrf_failed',
      403,
      'This form has expired or did not come from this site. Go back, reload the page and try again.',
    );
  }
}

export type Csrf = {
  /** The token to put in a form's hidden `_csrf` field; sets the browser's CSRF cookie when missing. */
  token(req: Request, res: Response): string;
  /** Middleware for every state-changing form post. */
  check(req: Request, res: Response, next: NextFunction): void;
};

/**
 * Double-submit tokens bound to a per-browser random cookie by an HMAC under a server secret: a page on
 * another site can neither read the cookie nor compute the token.
 */
export function createCsrf(secret: string, secure: boolean): Csrf {
  const sign = (value: string) => createHmac('sha256', secret).update(`csrf:${value}`).digest('base64url');
  const COOKIE = csrfCookieName(secure);

  return {
    token(req, res) {
      let value = (req.cookies as Record<string, string> | undefined)?.[COOKIE];
      if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
        value = randomBytes(32).toString('base64url');
        res.cookie(COOKIE, value, { httpOnly: true, sameSite: 'lax', secure, path: '/' });
        (req.cookies as Record<string, string>)[COOKIE] = value;
      }
      return sign(value);
    },
    check(req, _res, next) {
      const cookie = (req.cookies as Record<string, string> | undefined)?.[COOKIE];
      const sent = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!cookie || typeof sent !== 'string') return next(new CsrfError());
      const expected = Buffer.from(sign(cookie));
      const given = Buffer.from(sent);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return next(new CsrfError());
      next();
    },
  };
}
