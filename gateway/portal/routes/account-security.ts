import express, { Router, type Request, type Response } from 'express';
import { isAppError } from '../../../core/errors.ts';
import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';
import { confirmedRecently } from '../../factors/confirm-identity.ts';
import { presentEnrolment } from '../../factors/enrolment-view.ts';
import { describeOwnSecondFactor, factorsOf } from '../../factors/factor-status.ts';
import { shownPasskeyName } from '../../factors/passkeys/present-passkey.ts';
import { ConfirmationNeededError } from '../../factors/passkeys/errors.ts';
import { asPerson } from '../../factors/passkeys/person.ts';
import {
  beginTotpEnrolment,
  confirmTotpEnrolment,
  openTotpEnrolment,
  type PendingEnrolment,
  type TotpDeps,
} from '../../factors/totp.ts';
import type { PortalUser } from '../sign-in.ts';
import { portalReturnTo } from '../return-to.ts';
import { rememberReturnTo } from '../../http/return-to.ts';
import { portalBinding } from '../../factors/binding.ts';
import { showRecoveryCodesOnce } from '../../factors/recovery-codes-routes.ts';
import { openTotpReplacement } from '../../factors/replace-totp.ts';
import { replaceTotpRoutes } from '../../factors/replace-totp-routes.ts';
import type { SecuritySectionDeps } from './security-page.ts';

export type AccountSecurityDeps = SecuritySectionDeps & { totp: TotpDeps };

/** The page with the steps of setting up an authenticator app, where starting one leads. */
const SETUP_PAGE = '/account/security?setup=authenticator';

/**
 * What the page shows of a setup: `show` the key this session was given, if it is still open (a GET draws
 * the page, which starts nothing); `start` the same, or a new key when it is not (a refused code, posted).
 */
type Setup = 'show' | 'start' | null;

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/**
 * `/account/security`: a signed-in person (the portal's session, itself a sign-in at this gateway) sees
 * their second factor and sets up an authenticator app. Plain forms, CSRF-protected, no script. Setting
 * one up needs a recent sign-in or "confirm it is you" (the password checked as at sign-in, by the
 * directory for a directory person), like adding a passkey, so a session left open on a shared computer
 * soon shows no secret and binds no phone; and a secret shown is confirmed from this session alone.
 */
export function accountSecurityRoutes(deps: AccountSecurityDeps): Router {
  const router = Router();

  const person = async (req: Request) => {
    const signedIn = req.user as PortalUser | undefined;
    return signedIn ? deps.context(req).models.User.findByPk(signedIn.id) : null;
  };

  /**
   * The page; `setup` shows the steps of setting up an authenticator app (its key and QR code), which the
   * person starts with "Set up an authenticator app", and which stay on the page when their code is refused.
   */
  async function page(
    req: Request,
    res: Response,
    error?: { status: number; message: string },
    setup: Setup = req.query.setup === 'authenticator' ? 'show' : null,
  ) {
    const user = await person(req);
    if (!user) {
      rememberReturnTo(req, portalReturnTo);
      return res.redirect(303, '/portal/login');
    }
    const ctx = deps.context(req);
    const status = (await factorsOf(ctx, [user.id])).get(user.id)!;
    const passkeys = await ctx.models.Passkey.findAll({
      attributes: ['name'],
      where: { userId: user.id },
      order: [['createdAt', 'ASC']],
    });
    const factorStatus = describeOwnSecondFactor(
      status,
      passkeys.map((p) => shownPasskeyName(p.name)),
    );
    const open = status.totp || !setup || !confirmedRecently(req) ? null : await setupOf(ctx, user, req, setup);
    const enrolment = open && (await presentEnrolment(open));
    // A replacement of the app this session started and has not finished: its new key, until it closes.
    const replacing =
      status.totp && confirmedRecently(req) && (await openTotpReplacement(ctx, deps.totp, user, portalBinding(req)));
    const replacement = replacing && { ...(await presentEnrolment(replacing)), ref: replacing.ref };
    // A refused form of another section (confirm it is you, password) has set its own status already.
    if (error) res.status(error.status);
    res.render('account-security', {
      title: 'Sign-in security',
      username: user.username,
      status,
      factorStatus,
      // Without recovery codes, a lost phone or passkey locks the person out: said until they make new ones.
      noRecoveryCodes: factorStatus !== null && status.recoveryCodesLeft === 0,
      enrolment,
      replacement,
      // Asked for the steps (a reload, a link kept) when this session has no key open: it says to start again.
      setupEnded: setup === 'show' && !open && !status.totp && confirmedRecently(req),
      csrf: deps.csrf.token(req, res),
      error: error?.message,
    });
  }

  // "/account" is the account page's short address, the one security-notice mails name.
  router.get('/', (_req, res) => res.redirect(303, '/account/security'));

  router.get('/security', async (req, res, next) => {
    try {
      await page(req, res);
    } catch (error) {
      next(error);
    }
  });

  // The addresses of forms that answer with a page (a refusal in place, the key of a setup): what a reload
  // or a link kept asks for again is the page itself, back where the setup was when it was one.
  router.get(
    ['/security/confirm', '/security/confirm/passkey', '/security/password', '/security/passkeys'],
    (_req, res) => res.redirect(303, '/account/security'),
  );
  router.get('/security/totp', (_req, res) => res.redirect(303, SETUP_PAGE));

  // Reached only when their form was refused: the page again, with the error beside that form.
  router.post(['/security/confirm', '/security/confirm/passkey', '/security/password'], async (req, res, next) => {
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
      const code = (req.body as Record<string, unknown>).code;
      try {
        if (!confirmedRecently(req)) throw new ConfirmationNeededError();
        const codes = await confirmTotpEnrolment(
          asPerson(deps.context(req), user),
          deps.totp,
          user,
          typeof code === 'string' ? code : '',
          portalBinding(req),
        );
        // On a page of their own, so that a reload or Back and Forward does not post the code again.
        showRecoveryCodesOnce(req, res, deps.totp.sealer, codes, { made: 'totp' });
      } catch (error) {
        if (!isAppError(error)) throw error;
        // The sign-in step's wording points to recovery codes, which someone setting up has none of yet.
        await page(req, res, error, 'start');
      }
    } catch (error) {
      next(error);
    }
  });

  // Starting a setup writes its key (sealed, pending): a post with the page's CSRF token, never a GET, which
  // a reload, a link prefetcher or another site's link would repeat. It leads to the page that shows the key.
  router.post(
    '/security/totp/start',
    form,
    deps.csrf.check,
    deps.post(async (req, res, user) => {
      if (!confirmedRecently(req)) throw new ConfirmationNeededError();
      await beginTotpEnrolment(deps.context(req), deps.totp, user, portalBinding(req));
      res.redirect(303, SETUP_PAGE);
    }, 'authenticator'),
  );

  router.use(replaceTotpRoutes(deps));

  function setupOf(
    ctx: GatewayContext,
    user: User,
    req: Request,
    setup: 'show' | 'start',
  ): Promise<PendingEnrolment | null> {
    const binding = portalBinding(req);
    return setup === 'start'
      ? beginTotpEnrolment(ctx, deps.totp, user, binding)
      : openTotpEnrolment(ctx, deps.totp, user, binding);
  }

  return router;
}
