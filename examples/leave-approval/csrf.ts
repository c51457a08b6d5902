import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

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

/** Every form post must carry the session's token: another site can neither read nor guess it. */
export function checkCsrf(req: Request, res: Response, next: NextFunction): void {
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
}
