import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

/**
 * The body parser of a page's form. A body over `limit` (a password of thousands of characters, typed
 * or pasted, in a script that takes several bytes each) is not read: `tooLarge` answers instead, with the
 * form again and its own message, where the error page would end the person's way with "The request
 * body is too large". Nothing of such a post is read, its CSRF token included, so `tooLarge` may show a
 * page but must never act.
 */
export function pageFormBody(
  options: { limit: string; parameterLimit: number },
  tooLarge: (req: Request, res: Response, next: NextFunction) => void,
): RequestHandler {
  const parse = express.urlencoded({ extended: false, ...options });
  return (req, res, next) =>
    parse(req, res, (error?: unknown) => {
      if ((error as { type?: unknown } | undefined)?.type === 'entity.too.large') return tooLarge(req, res, next);
      next(error);
    });
}
