import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { isAppError, ValidationError, type AppError } from '../../../core/errors.ts';
import { setRetryAfter } from '../../../core/retry-after.ts';
import type { LoginPolicy } from '../../accounts/authenticate.ts';
import { changeOwnPassword } from '../../accounts/change-password.ts';
import { PASSWORD_MAX } from '../../accounts/schemas.ts';
import { signOutOwnSessions } from '../../accounts/sign-out-own-sessions.ts';
import type { GatewayContext } from '../../context.ts';
import { directoryResetPages } from '../../directories/reset-page.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import type { Csrf } from '../../http/csrf.ts';
import type { User } from '../../models/index.ts';
import { pageFormBody } from '../../http/page-form-body.ts';
import { beforeSecurityPage, type SecuritySectionDeps } from './security-page.ts';

export type AccountPasswordDeps = {
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  loginPolicy: LoginPolicy;
  /** The active person the portal session is signed in as, if any. */
  person: (req: Request) => Promise<User | null>;
  post: SecuritySectionDeps['post'];
};

/**
 * Room for a current password that is far too long, so that it is refused with a message, not a 413; a
 * body longer still (thousands of characters, in a script that takes several bytes each) is refused on
 * the form as well, with every field to type again.
 */
const passwordForm = pageFormBody({ limit: '16kb', parameterLimit: 6 }, (_req, res, next) => {
  res.status(413).set('Cache-Control', 'no-store');
  res.locals.passwordError = {
    text: `Use at most ${PASSWORD_MAX} characters for a password. Nothing was changed.`,
    field: 'current',
    kept: {},
  };
  next('route');
});
const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

const destroySession = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));

type PasswordField = 'current' | 'password' | 'confirmation';

/**
 * A refused change as the Password form shows it: the message beside the form, tied to the field it is
 * about, which gets the focus (the new password, when the two new ones differ). The current password, or
 * the two new ones, are emptied to be typed again; the others keep what was typed (the page is sent with
 * no-store): the new ones when the current one is refused, the current one when a new one is.
 */
function presentPasswordError(error: AppError, body: Record<string, unknown>) {
  const named = error instanceof ValidationError ? Object.keys(error.fields)[0] : undefined;
  const field: PasswordField = named === 'password' || named === 'confirmation' ? named : 'current';
  const typed = (name: PasswordField) => {
    const value = body[name];
    return typeof value === 'string' && value.length <= 200 ? value : '';
  };
  const kept =
    field === 'current'
      ? { password: typed('password'), confirmation: typed('confirmation') }
      : { current: typed('current') };
  return { text: error.message, field: field === 'current' ? 'current' : 'password', kept };
}

/**
 * Change password and "sign out everywhere" on `/account/security` (mounted on `/account` with the
 * portal's session), the latter once its "I understand" box is ticked. Both end every session of the
 * person, the portal session doing it too: its refresh token is gone with the others, so it could reach no
 * chat any more. The browser is signed out here and shown a page that says so; the cookie it keeps names a
 * session that no longer exists.
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
      }
      next();
    } catch (error) {
      next(error);
    }
  };
  beforeSecurityPage(router, locals);

  router.post('/security/password', passwordForm, deps.csrf.check, async (req, res, next) => {
    try {
      const user = await deps.person(req);
      if (!user) return res.redirect(303, '/portal/login');
      const body = req.body as Record<string, unknown>;
      try {
        await changeOwnPassword(deps.context(req), deps.loginPolicy, user, {
          current: body.current,
          password: body.password,
          confirmation: body.confirmation,
        });
      } catch (error) {
        if (!isAppError(error)) throw error;
        // The page again (the routes after these render it), not a redirect to #password: Chromium skips
        // autofocus where the address has a fragment, and the fields typed would be lost.
        setRetryAfter(res, error);
        res.status(error.status).set('Cache-Control', 'no-store');
        res.locals.passwordError = presentPasswordError(error, body);
        return next();
      }
      await destroySession(req);
      res.redirect(303, '/account/password-changed');
    } catch (error) {
      next(error);
    }
  });

  router.post(
    '/security/sign-out-everywhere',
    form,
    deps.csrf.check,
    deps.post(async (req, res, user) => {
      // Asked first, as "Sign out this device" is: one click would otherwise end this browser's session too.
      if ((req.body as Record<string, unknown>).understood !== 'yes')
        throw new NotUnderstoodError('sign out everywhere', 'Nothing was signed out.');
      await signOutOwnSessions(deps.context(req), user);
      await destroySession(req);
      res.redirect(303, '/account/signed-out-everywhere');
    }, 'everywhere'),
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
