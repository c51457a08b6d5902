import { Router, type Request, type Response } from 'express';
import { AppError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import { formBody } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { consoleUserOf, safeReturnTo } from '../page.ts';
import { CONSOLE_SIGN_INS, type ConsoleAuth, type Refusal, type SignedIn } from '../sign-in.ts';
import { CONSOLE_CLIENT_ID } from '../console-client.ts';
import { withOwnSignOutState } from '../../oidc/own-sign-out.ts';
import { wasCancelled } from '../../interactions/cancelled.ts';
import { hostCookieName, hostCookiePath } from '../../http/host-cookies.ts';
import { takeReturnToOf, UNFINISHED_SIGN_IN_WORDS, whyUnfinished } from '../../http/pending-sign-ins.ts';
import type { FinishSignIn } from '../../http/own-relying-party.ts';
import type { SessionTagging } from '../../portal/session-ids.ts';
import { reloadConsoleActor } from '../../accounts/console-access.ts';

/** The console's session cookie: host-only over https (http/host-cookies.ts), under /admin over plain http. */
export const consoleCookie = (secure: boolean) => ({
  name: hostCookieName('atrium.admin', secure),
  path: hostCookiePath('/admin', secure),
});
const CANCELLED = 'You cancelled signing in.';
/** Said when the gateway answered a sign-in that was under way without letting anyone in, for no reason given. */
const NOT_LET_IN = 'This sign-in could not be finished. Sign in again.';

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

  /** A sign-in that did not finish, with the way to start one again. */
  function failurePage(req: Request, res: Response, message: string, status: number) {
    const page = { title: 'Sign-in failed', message, code: 'sign_in_failed', retry: true };
    kit.render(req, res, 'error', page, status);
  }

  /** A sign-in the gateway answered without letting anyone in: refused, cancelled, or not finished. */
  function notLetIn(req: Request, res: Response, refusal: (Partial<Refusal> & { message?: string }) | undefined) {
    if (refusal?.refused && refusal.userId) {
      // Kept so "sign in as someone else" can end this gateway session too.
      req.session.idToken = refusal.idToken;
      req.session.refused = { message: refusal.refused, userId: refusal.userId };
      return res.redirect(303, '/admin/refused');
    }
    // Cancel on the gateway's sign-in or code page: said in the person's words, as the portal does.
    if (wasCancelled(refusal?.message))
      return kit.render(req, res, 'error', { title: 'Sign-in cancelled', message: CANCELLED, retry: true });
    logger.info({ reason: refusal?.message }, 'admin console sign-in not finished');
    failurePage(req, res, NOT_LET_IN, 401);
  }

  router.get('/login', async (req, res) => {
    if (consoleUserOf(req)) return res.redirect(303, '/admin/users');
    await whenReady();
    // Each start is kept beside the others under way (two console links opened, tabs restored), by its state.
    res.redirect(302, (await auth.startSignIn(req)).href);
  });

  router.get('/callback', async (req, res, next) => {
    await whenReady();
    // A state this browser did not start must sign no one in (CSRF); one it started, in another tab, after
    // this browser signed in already has nothing left to do but show the page that tab asked for.
    const started = auth.takeSignIn(req, req.query.state);
    if (!started) {
      // The callback of a refused sign-in, reopened (Back): the refusal again, not a failure.
      if (req.session.refused) return res.redirect(303, '/admin/refused');
      return failurePage(
        req,
        res,
        UNFINISHED_SIGN_IN_WORDS[whyUnfinished(req, CONSOLE_SIGN_INS, req.query.state)],
        401,
      );
    }
    if (consoleUserOf(req)) return res.redirect(303, takeReturnToOf(req, started, safeReturnTo));
    const finish: FinishSignIn<SignedIn, Partial<Refusal> & { message?: string }> = (err, user, info) => {
      if (err) {
        logger.warn({ err }, 'admin console sign-in failed');
        return failurePage(req, res, 'Sign-in could not be completed.', 400);
      }
      if (!user) return notLetIn(req, res, info);
      // The page this tab asked for, taken by a sign-in that succeeds (read before the session is renewed):
      // one that failed, was cancelled or refused leaves it to the next try, within its ten minutes.
      const returnTo = takeReturnToOf(req, started, safeReturnTo);
      // The new session's id carries tags of the person and the gateway session, so signing that session
      // out (there, or from the account page) finds it.
      tagging.next(req, user.gatewaySid, user.actor.id);
      delete req.session.refused;
      auth.logIn(req, user.actor, (loginError) => {
        if (loginError) return next(loginError);
        req.session.idToken = user.idToken;
        res.redirect(303, returnTo);
      });
    };
    auth.finishSignIn(req, res, next, started, finish);
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
