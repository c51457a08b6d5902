import { Router, type Request } from 'express';
import { AppError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import { formBody } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { consoleUserOf, safeReturnTo } from '../page.ts';
import { STRATEGY, type ConsoleAuth, type Refusal, type SignedIn } from '../sign-in.ts';
import { CONSOLE_CLIENT_ID } from '../console-client.ts';
import { withOwnSignOutState } from '../../oidc/own-sign-out.ts';
import { wasCancelled } from '../../interactions/cancelled.ts';
import { hostCookieName, hostCookiePath } from '../../http/host-cookies.ts';
import { takeReturnTo } from '../../http/return-to.ts';
import type { SessionTagging } from '../../portal/session-ids.ts';
import { reloadConsoleActor } from '../../accounts/console-access.ts';

/** The console's session cookie: host-only over https (http/host-cookies.ts), under /admin over plain http. */
export const consoleCookie = (secure: boolean) => ({
  name: hostCookieName('atrium.admin', secure),
  path: hostCookiePath('/admin', secure),
});
const CANCELLED = 'You cancelled signing in.';
// openid-client's words for a callback it has no sign-in for (reopened, or from another browser) are for logs.
const NOT_FINISHED =
  'This sign-in could not be finished: its page was opened again after it was used, or it waited too long. Sign in again.';

declare module 'express-session' {
  interface SessionData {
    /**
     * Why the gateway's account (`userId`) is not let into the console, shown at /admin/refused: a clean
     * address that says it again on a reload while it still holds, where the callback's would find its
     * one-time code spent.
     */
    refused?: { message: string; userId: string };
  }
}

class SignInUnavailableError extends AppError {
  constructor() {
    super('sign_in_unavailable', 503, 'The console cannot reach the sign-in service right now. Try again in a moment.');
  }
}

const destroySession = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));

/** Sign-in through the gateway's own login page, the callback, and sign-out (console and gateway). */
export function sessionRoutes(
  kit: ConsoleKit,
  auth: ConsoleAuth,
  logger: Logger,
  cookie: { secure: boolean },
  secretKey: string,
  tagging: SessionTagging,
): Router {
  const router = Router();

  async function whenReady() {
    try {
      await auth.ready();
    } catch {
      throw new SignInUnavailableError();
    }
  }

  router.get('/login', async (req, res, next) => {
    if (consoleUserOf(req)) return res.redirect(303, '/admin/users');
    await whenReady();
    auth.passport.authenticate(STRATEGY)(req, res, next);
  });

  router.get('/callback', async (req, res, next) => {
    await whenReady();
    const finish = (err: unknown, user: SignedIn | false | undefined, info: unknown) => {
      if (err) {
        logger.warn({ err }, 'admin console sign-in failed');
        return kit.render(
          req,
          res,
          'error',
          { title: 'Sign-in failed', message: 'Sign-in could not be completed.', retry: true },
          400,
        );
      }
      if (!user) {
        const refusal = info as (Partial<Refusal> & { message?: string }) | undefined;
        if (refusal?.refused && refusal.userId) {
          // Kept so "sign in as someone else" can end this gateway session too.
          req.session.idToken = refusal.idToken;
          req.session.refused = { message: refusal.refused, userId: refusal.userId };
          return res.redirect(303, '/admin/refused');
        }
        // Cancel on the gateway's sign-in or code page: said in the person's words, as the portal does.
        if (wasCancelled(refusal?.message))
          return kit.render(req, res, 'error', { title: 'Sign-in cancelled', message: CANCELLED, retry: true });
        // The callback of a refused sign-in, reopened (Back): the refusal again, not a failure.
        if (req.session.refused) return res.redirect(303, '/admin/refused');
        logger.info({ reason: refusal?.message }, 'admin console sign-in not finished');
        return kit.render(req, res, 'error', { title: 'Sign-in failed', message: NOT_FINISHED, retry: true }, 401);
      }
      // Taken by a sign-in that succeeds, before the session is renewed: one that failed, was cancelled or
      // refused above leaves the page asked for to the next try, within its ten minutes.
      const returnTo = takeReturnTo(req, safeReturnTo);
      // The new session's id carries tags of the person and the gateway session, so signing that session
      // out (there, or from the account page) finds it.
      tagging.next(req, user.gatewaySid, user.actor.id);
      delete req.session.refused;
      req.logIn(user.actor, (loginError) => {
        if (loginError) return next(loginError);
        req.session.idToken = user.idToken;
        res.redirect(303, returnTo);
      });
    };
    auth.passport.authenticate(STRATEGY, finish)(req, res, next);
  });

  router.get('/refused', async (req, res) => {
    if (consoleUserOf(req)) return res.redirect(303, '/admin/users');
    const refused = req.session.refused;
    // Said only while it still holds: someone made an administrator since (or refused by an earlier
    // version, which kept no one's id) signs in afresh, through the gateway session still open.
    if (!refused?.userId || (await reloadConsoleActor(kit.context(req), refused.userId))) {
      delete req.session.refused;
      return res.redirect(303, '/admin/login');
    }
    kit.render(req, res, 'refused', { title: 'Not an administrator', message: refused.message }, 403);
  });

  router.post('/logout', formBody, kit.csrf.check, async (req, res) => {
    const idToken = req.session.idToken;
    // Asked once here (the form): the gateway ends its session without a second question (oidc/own-sign-out.ts).
    const target = await auth
      .endSessionUrl(idToken)
      .then((url) => withOwnSignOutState(url, idToken, CONSOLE_CLIENT_ID, secretKey))
      .catch(() => '/admin/signed-out');
    await destroySession(req);
    const { name, path } = consoleCookie(cookie.secure);
    res.clearCookie(name, { path, httpOnly: true, sameSite: 'lax', secure: cookie.secure });
    res.redirect(303, target);
  });

  router.get('/signed-out', (req, res) => {
    kit.render(req, res, 'signed-out', { title: 'Signed out' });
  });

  return router;
}
