import express, { Router, type Request, type Response } from 'express';
import { isAppError } from '../../../core/errors.ts';
import type { GatewayContext } from '../../context.ts';
import type { Csrf } from '../../http/csrf.ts';
import { presentEnrolment } from '../../factors/enrolment-view.ts';
import { factorsOf } from '../../factors/factor-status.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, type TotpDeps } from '../../factors/totp.ts';
import type { PortalUser } from '../sign-in.ts';
import { AccountLockedError, countFailure, type LoginPolicy } from '../../accounts/authenticate.ts';
import { verifyPassword } from '../../accounts/passwords.ts';
import { PasswordCheckFailedError } from '../../factors/errors.ts';

export type AccountSecurityDeps = {
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  totp: TotpDeps;
  loginPolicy: LoginPolicy;
};

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/**
 * `/account/security`: a signed-in person (the portal's session, itself a sign-in at this gateway) sees
 * their second factor and sets up an authenticator app. Plain forms, CSRF-protected, no script.
 */
export function accountSecurityRoutes(deps: AccountSecurityDeps): Router {
  const router = Router();

  const person = async (req: Request) => {
    const signedIn = req.user as PortalUser | undefined;
    return signedIn ? deps.context(req).models.User.findByPk(signedIn.id) : null;
  };

  async function page(req: Request, res: Response, error?: { status: number; message: string }) {
    const user = await person(req);
    if (!user) return res.redirect(303, '/portal/login');
    const ctx = deps.context(req);
    const status = (await factorsOf(ctx, [user.id])).get(user.id)!;
    const enrolment = status.totp ? null : await presentEnrolment(await beginTotpEnrolment(ctx, deps.totp, user));
    res.status(error?.status ?? 200).render('account-security', {
      title: 'Sign-in security',
      username: user.username,
      status,
      enrolment,
      csrf: deps.csrf.token(req, res),
      error: error?.message,
    });
  }

  router.get('/security', async (req, res, next) => {
    try {
      await page(req, res);
    } catch (error) {
      next(error);
    }
  });

  router.post('/security/totp', form, deps.csrf.check, async (req, res, next) => {
    try {
      const user = await person(req);
      if (!user) return res.redirect(303, '/portal/login');
      const body = req.body as Record<string, unknown>;
      const code = body.code;
      try {
        // The password again, counted toward the lockout like the login form, so that a session left open
        // on a shared computer can neither bind someone else's phone nor be used to guess the password.
        if (user.lockedUntil && user.lockedUntil > new Date())
          throw new AccountLockedError(deps.loginPolicy.lockoutMinutes * 60);
        if (!(await verifyPassword(user.passwordHash, typeof body.password === 'string' ? body.password : ''))) {
          throw (await countFailure(deps.context(req), user, deps.loginPolicy))
            ? new AccountLockedError(deps.loginPolicy.lockoutMinutes * 60)
            : new PasswordCheckFailedError();
        }
        const codes = await confirmTotpEnrolment(
          {
            ...deps.context(req),
            actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] },
          },
          deps.totp,
          user,
          typeof code === 'string' ? code : '',
        );
        res.render('recovery-codes', { title: 'Authenticator set up', codes });
      } catch (error) {
        if (!isAppError(error)) throw error;
        await page(req, res, error);
      }
    } catch (error) {
      next(error);
    }
  });

  return router;
}
