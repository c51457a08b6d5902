import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isAppError } from '../../../core/errors.ts';
import type { LoginPolicy } from '../../accounts/authenticate.ts';
import { changeOwnPassword } from '../../accounts/change-password.ts';
import { signOutOwnSessions } from '../../accounts/sign-out-own-sessions.ts';
import type { GatewayContext } from '../../context.ts';
import { directoryResetPages } from '../../directories/reset-page.ts';
import type { Csrf } from '../../http/csrf.ts';
import type { User } from '../../models/index.ts';

declare module 'express-session' {
  interface SessionData {
    /** A refused password change, shown once beside the Password form (post, redirect, get). */
    passwordError?: string;
  }
}

export type AccountPasswordDeps = {
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  loginPolicy: LoginPolicy;
  /** The active person the portal session is signed in as, if any. */
  person: (req: Request) => Promise<User | null>;
  /** A form post of the account page: signed in, then the work; an expected refusal comes back as its notice. */
  post: (work: (req: Request, res: Response, user: User) => Promise<string | void>) => RequestHandler;
};

// Room for a current password that is far too long, so that it is refused with a message, not a 413.
const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 6 });

const destroySession = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));

/**
 * Change password and "sign out everywhere" on `/account/security` (mounted on `/account` with the
 * portal's session). Both end every session of the person, the portal session doing it too: its refresh
 * token is gone with the others, so it could reach no chat any more. The browser is signed out here and
 * shown a page that says so; the cookie it keeps names a session that no longer exists.
 */
export function accountPasswordRoutes(deps: AccountPasswordDeps): Router {
  const router = Router();

  // Where the person's password lives, for the page: here (the form), or their campus directory (its reset page).
  const locals = async (req: Request, res: Response, next: NextFunction) => {
    try {
      const user = await deps.person(req);
      if (user) {
        const ctx = deps.context(req);
        const linked = await ctx.models.DirectoryAccount.findByPk(user.id, { attributes: ['userId'] });
        res.locals.passwordHome = linked
          ? { directory: true, resetUrl: await directoryResetPages(ctx.models)(user) }
          : { directory: false };
        res.locals.passwordError = req.session.passwordError;
        delete req.session.passwordError;
      }
      next();
    } catch (error) {
      next(error);
    }
  };
  router.get('/security', locals);
  router.post('/security/totp', locals);

  router.post(
    '/security/password',
    form,
    deps.csrf.check,
    deps.post(async (req, res, user) => {
      const body = req.body as Record<string, unknown>;
      try {
        await changeOwnPassword(deps.context(req), deps.loginPolicy, user, {
          current: body.current,
          password: body.password,
          confirmation: body.confirmation,
        });
      } catch (error) {
        if (!isAppError(error)) throw error;
        // Beside the Password form, not at the top of the page among the second factor's notices.
        req.session.passwordError = error.message;
        return res.redirect(303, '/account/security#password');
      }
      await destroySession(req);
      res.redirect(303, '/account/password-changed');
    }),
  );

  router.post(
    '/security/sign-out-everywhere',
    form,
    deps.csrf.check,
    deps.post(async (req, res, user) => {
      await signOutOwnSessions(deps.context(req), user);
      await destroySession(req);
      res.redirect(303, '/account/signed-out-everywhere');
    }),
  );

  // What the signed-out browser is shown: nothing of the person, so any browser may see it.
  router.get('/password-changed', (_req, res) => {
    res.render('password-reset-done', { title: 'Password changed' });
  });
  router.get('/signed-out-everywhere', (_req, res) => {
    res.render('signed-out-everywhere', { title: 'Signed out everywhere' });
  });

  return router;
}
