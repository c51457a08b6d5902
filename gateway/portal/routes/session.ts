import { Router, type Request, type Response } from 'express';
import type { Logger } from '../../../core/logger.ts';
import { allNodeUrls } from '../profile.ts';
import { PORTAL_CLIENT_ID } from '../portal-client.ts';
import type { PortalAuth, SignedIn } from '../sign-in.ts';
import { takeReturnToOf, UNFINISHED_SIGN_IN_WORDS, whyUnfinished } from '../../http/pending-sign-ins.ts';
import type { FinishSignIn } from '../../http/own-relying-party.ts';
import type { TokenVault } from '../token-vault.ts';
import type { GatewayContext } from '../../context.ts';
import type { SessionTagging } from '../session-ids.ts';
import { wasCancelled } from '../../interactions/cancelled.ts';
import { ownBackchannelLogout } from '../../http/own-backchannel-logout.ts';
import { portalReturnTo } from '../return-to.ts';

export type SessionRouteDeps = {
  issuer: string;
  auth: PortalAuth;
  vault: TokenVault;
  tagging: SessionTagging;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
  /** Ends every portal session whose id starts with one of the prefixes, and its tokens (single logout from elsewhere). */
  endSessions(prefixes: string[]): Promise<number>;
  sessionExpiresAt(req: Request): Date;
};

/**
 * Where "sign in again" after a sign-in that did not finish leads: the sign-in itself, not the chat page,
 * which would forget the account page asked for before it (page.ts).
 */
const SIGN_IN_AGAIN = '/portal/login';

/** A sign-in that did not finish, with the way to start one again (as the console's says). */
function failurePage(res: Response, status: number, description: string) {
  res
    .status(status)
    .render('error', { title: 'Sign-in failed', error: 'sign_in_failed', description, retry: SIGN_IN_AGAIN });
}

/** Sign-in through the gateway's own login page, the callback, the signed-out page and back-channel logout. */
export function sessionRoutes(deps: SessionRouteDeps): Router {
  const router = Router();

  router.get('/login', async (req, res, next) => {
    if (req.user) return res.redirect(303, '/');
    try {
      await deps.auth.ready();
    } catch {
      return res.status(503).render('error', {
        title: 'Sign-in unavailable',
        error: 'sign_in_unavailable',
        description: 'The sign-in service cannot be reached right now. Try again in a moment.',
        retry: SIGN_IN_AGAIN,
      });
    }
    // Every domain node is a resource, so the one refresh token later yields a token for each node;
    // offline access needs prompt=consent, which the gateway grants first-party clients without asking.
    // Each start is kept beside the others under way (tabs restored at once), known by its state, with the
    // page its tab asked for.
    try {
      const resource = await allNodeUrls(deps.context(req));
      const url = await deps.auth.startSignIn(req, { resource, prompt: 'consent' });
      res.redirect(302, url.href);
    } catch (error) {
      next(error);
    }
  });

  router.get('/callback', async (req, res, next) => {
    try {
      await deps.auth.ready();
    } catch {
      return failurePage(res, 503, 'The sign-in service cannot be reached right now.');
    }
    // A state this browser did not start must sign no one in (CSRF); one it started, in another tab, after
    // this browser signed in already has nothing left to do but show the page that tab asked for, and so
    // has a used one opened again (Back) while signed in. Otherwise the page says which it was.
    const started = deps.auth.takeSignIn(req, req.query.state);
    if (!started) {
      const why = whyUnfinished(req, 'portalSignIns', req.query.state);
      if (why === 'used' && req.user) return res.redirect(303, '/');
      return failurePage(res, 400, UNFINISHED_SIGN_IN_WORDS[why]);
    }
    if (req.user) return res.redirect(303, takeReturnToOf(req, started, portalReturnTo));
    const finish: FinishSignIn<SignedIn, { message?: string }> = (err, user, info) => {
      if (err) {
        deps.logger.warn({ err }, 'portal sign-in failed');
        return failurePage(res, 400, 'Sign-in could not be completed.');
      }
      // Cancel on the gateway's sign-in or code page: nothing failed, and the person may start again.
      if (!user && wasCancelled(info?.message))
        return res.render('sign-in-cancelled', { title: 'Sign-in cancelled', signIn: SIGN_IN_AGAIN });
      if (!user) return failurePage(res, 401, info?.message ?? 'Sign-in was cancelled.');
      // The account page this tab asked for while signed out, taken by a sign-in that succeeds (read before
      // the session is renewed): one that failed or was cancelled leaves it to the next try, within its ten minutes.
      const returnTo = takeReturnToOf(req, started, portalReturnTo);
      // The new session's id carries tags of the gateway session and the person, so single logout and
      // ending the person's access can find it.
      deps.tagging.next(req, user.gatewaySid, user.user.id);
      // Signing in renews the session; the sign-ins other tabs started are carried across.
      deps.auth.logIn(req, user.user, (loginError) => {
        if (loginError) return next(loginError);
        req.session.portalIdToken = user.idToken;
        deps.vault
          .open(req.sessionID, user.refreshToken, deps.sessionExpiresAt(req))
          .then(() => res.redirect(303, returnTo), next);
      });
    };
    deps.auth.finishSignIn(req, res, next, started, finish);
  });

  router.get('/signed-out', (_req, res) => {
    res.render('portal-signed-out', { title: 'Signed out' });
  });

  // Sessions signed in before the person's tag came first in their ids still start with the gateway
  // session's; they last at most the session lifetime (SESSION_TTL_HOURS) after that upgrade.
  router.post(
    '/backchannel-logout',
    ...ownBackchannelLogout({
      issuer: deps.issuer,
      clientId: PORTAL_CLIENT_ID,
      logger: deps.logger,
      label: 'portal',
      end: (sub, sid) => deps.endSessions([deps.tagging.prefix(sub, sid), deps.tagging.formerPrefix(sid)]),
    }),
  );

  return router;
}
