import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../../core/errors.ts';
import { hostCookieName } from './host-cookies.ts';

/** Host-only over https (host-cookies.ts): a sibling host could otherwise set a token it got here. */
export const csrfCookieName = (secure: boolean) => hostCookieName('atrium.csrf', secure);

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
