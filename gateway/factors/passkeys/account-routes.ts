import express, { Router, type Request, type Response } from 'express';
import { Op } from 'sequelize';
import { isAppError } from '../../../core/errors.ts';
import type { LoginPolicy } from '../../accounts/authenticate.ts';
import type { GatewayContext } from '../../context.ts';
import type { Csrf } from '../../http/csrf.ts';
import type { User } from '../../models/index.ts';
import type { PortalUser } from '../../portal/sign-in.ts';
import { pageFormBody } from '../../http/page-form-body.ts';
import { PASSWORD_FAR_TOO_LONG } from '../../accounts/change-password.ts';
import { CONFIRMATION_WINDOW_SECONDS, confirmedRecently, confirmIdentity } from '../confirm-identity.ts';
import { secondFactorRequired } from '../policy.ts';
import { accountRecoveryCodesRoutes, showRecoveryCodesOnce } from '../recovery-codes-routes.ts';
import { hasConfirmedTotp, type TotpDeps } from '../totp.ts';
import { beginPasskeyAssertion, verifyPasskeyAssertion } from './assertion.ts';
import { ConfirmationNeededError } from './errors.ts';
import { answerOptions, jsonBody } from './json-answers.ts';
import { listPasskeys, renamePasskey } from './manage-passkeys.ts';
import { accountRemovalRoutes } from '../removal-routes.ts';
import type { PasskeyPageScript } from './page-script.ts';
import { beginPasskeyRegistration, finishPasskeyRegistration } from './registration.ts';
import type { PasskeyDeps } from './relying-party.ts';
import { hasSecondFactor } from './second-factor-choices.ts';
import { passwordlessAllowed } from './passwordless-policy.ts';
import { portalBinding } from '../binding.ts';

declare module 'express-session' {
  interface SessionData {
    /** What the account page says once after a change (post, redirect, get), in the section it is about. */
    accountNotice?: { kind: 'success' | 'error' | 'info'; text: string; section?: AccountSection };
  }
}

/** The parts of the account page a notice can be shown in; `page` is at the top, for the page as a whole. */
export type AccountSection = 'page' | 'authenticator' | 'passkeys' | 'codes' | 'devices' | 'everywhere' | 'apps';

export type AccountPasskeyDeps = {
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  totp: TotpDeps;
  loginPolicy: LoginPolicy;
  passkeys: PasskeyDeps;
  script: PasskeyPageScript;
};

const form = express.urlencoded({ extended: false, limit: '48kb', parameterLimit: 10 });

/** Room for a current password of CURRENT_PASSWORD_MAX characters in any script; a longer one is "far too long". */
const confirmForm = pageFormBody({ limit: '16kb', parameterLimit: 5 }, (_req, res, next) => {
  res.status(413).locals.confirmError = { text: PASSWORD_FAR_TOO_LONG, field: 'password' };
  next('route');
});

/**
 * The passkeys and recovery codes of `/account/security` (mounted on `/account` with the portal's
 * session, before the page's own routes): register, rename and remove passkeys (removal-routes.ts), make
 * new recovery codes (recovery-codes-routes.ts), and confirm it is you. Adding or removing a passkey and
 * new codes need a sign-in or a confirmation within the last ten minutes; renaming needs only the session.
 */
export function accountPasskeyRoutes(deps: AccountPasskeyDeps): Router {
  const router = Router();

  const helpers = accountPageHelpers(deps);
  const { person, post, mustBeConfirmed, body, locals, back, confirmation } = helpers;
  router.get('/security', locals);
  // The page's forms that, refused, show the page again with the error beside them.
  router.post(['/security/totp', '/security/password'], locals);

  router.post(
    '/security/confirm',
    confirmForm,
    deps.csrf.check,
    confirmation(
      async (req, user) => {
        const { password, code } = body(req);
        await confirmIdentity(deps.context(req), deps.totp, deps.loginPolicy, user, { password, code });
      },
      (req) => (typeof body(req).code === 'string' && String(body(req).code).trim() ? 'code' : 'password'),
      'Confirmed.',
    ),
  );

  router.post(
    '/security/confirm/options',
    jsonBody,
    deps.csrf.check,
    answerOptions(async (req) => {
      const user = await person(req);
      if (!user) throw new ConfirmationNeededError();
      return beginPasskeyAssertion(deps.context(req), deps.passkeys, portalBinding(req), 'confirm', user);
    }),
  );

  router.post(
    '/security/confirm/passkey',
    form,
    deps.csrf.check,
    confirmation(
      async (req, user) => {
        await verifyPasskeyAssertion(deps.context(req), deps.passkeys, deps.loginPolicy, {
          binding: portalBinding(req),
          purpose: 'confirm',
          expectedUserId: user.id,
          response: body(req).response,
        });
      },
      () => 'passkey',
      'Confirmed with your passkey.',
    ),
  );
  // A refused confirmation: the page again (the routes after these render it), with the error beside it.
  router.post(['/security/confirm', '/security/confirm/passkey'], locals);

  router.post(
    '/security/passkeys/options',
    jsonBody,
    deps.csrf.check,
    answerOptions(async (req) => {
      const user = await person(req);
      if (!user) throw new ConfirmationNeededError();
      mustBeConfirmed(req);
      return beginPasskeyRegistration(deps.context(req), deps.passkeys, user, portalBinding(req), body(req).name);
    }),
  );

  router.post(
    '/security/passkeys',
    form,
    deps.csrf.check,
    post(async (req, res, user) => {
      mustBeConfirmed(req);
      const { passkey, recoveryCodes } = await finishPasskeyRegistration(
        deps.context(req),
        deps.passkeys,
        user,
        portalBinding(req),
        { name: body(req).name, response: body(req).response },
      );
      const added = `Added the passkey “${passkey.name}”.`;
      if (!recoveryCodes) return added;
      // The first second factor: its recovery codes, shown once, as after setting up an authenticator app.
      showRecoveryCodesOnce(req, res, deps.totp.sealer, recoveryCodes, { made: 'passkey', notice: added });
    }, 'passkeys'),
  );

  router.post(
    '/security/passkeys/:id/rename',
    form,
    deps.csrf.check,
    post(async (req, _res, user) => {
      const renamed = await renamePasskey(deps.context(req), user, req.params.id, body(req).name);
      return `Renamed the passkey to “${renamed.name}”.`;
    }, 'passkeys'),
  );

  router.use(accountRemovalRoutes(deps, helpers));

  router.use(accountRecoveryCodesRoutes(deps, helpers));

  return router;
}

/**
 * Whether the person holds a single second factor (`lastFactor`), and whether the policy then keeps them
 * from removing it (`keepLastFactor`): the page says so instead of offering the Remove button.
 */
async function lastFactorOf(ctx: GatewayContext, user: User) {
  const [apps, passkeys] = await Promise.all([
    ctx.models.TotpFactor.count({ where: { userId: user.id, confirmedAt: { [Op.ne]: null } } }),
    ctx.models.Passkey.count({ where: { userId: user.id } }),
  ]);
  const lastFactor = apps + passkeys === 1;
  return { lastFactor, keepLastFactor: lastFactor && (await secondFactorRequired(ctx, user)) };
}

/** The notice to show once, in its section (one kept from before sections were named is the page's). */
function noticeOf(req: Request) {
  const notice = req.session.accountNotice;
  return notice && { ...notice, section: notice.section ?? 'page' };
}

/** What every route of the page shares: who is signed in, form posts that answer with a notice, the page's locals. */
export function accountPageHelpers(deps: AccountPasskeyDeps) {
  const person = async (req: Request): Promise<User | null> => {
    const signedIn = req.user as PortalUser | undefined;
    const user = signedIn ? await deps.context(req).models.User.findByPk(signedIn.id) : null;
    return user?.status === 'active' ? user : null;
  };
  // Back at the notice itself, wherever its section is on the page: the browser scrolls to it and focuses
  // it (the partial's autofocus), so it is seen and read out rather than left far below the top.
  const back = (
    req: Request,
    res: Response,
    kind: 'success' | 'error' | 'info',
    text: string,
    section: AccountSection,
  ) => {
    req.session.accountNotice = { kind, text, section };
    res.redirect(303, '/account/security#account-notice');
  };
  /** A form post: signed in, then the work; an expected refusal comes back as the notice of its section. */
  const post =
    (work: (req: Request, res: Response, user: User) => Promise<string | void>, section: AccountSection = 'page') =>
    async (req: Request, res: Response, next: express.NextFunction) => {
      try {
        const user = await person(req);
        if (!user) return res.redirect(303, '/portal/login');
        try {
          const done = await work(req, res, user);
          if (typeof done === 'string') back(req, res, 'success', done, section);
        } catch (error) {
          if (!isAppError(error)) throw error;
          back(req, res, 'error', error.message, section);
        }
      } catch (error) {
        next(error);
      }
    };
  /**
   * Confirming it is the person (a password or code, or a passkey): confirmed, back to the page with a
   * notice; refused, the page again (the routes after this render it) with the error beside the
   * confirmation's forms and on the field (`field`) that was used.
   */
  const confirmation =
    (verify: (req: Request, user: User) => Promise<void>, field: (req: Request) => string, done: string) =>
    async (req: Request, res: Response, next: express.NextFunction) => {
      try {
        const user = await person(req);
        if (!user) return res.redirect(303, '/portal/login');
        try {
          await verify(req, user);
        } catch (error) {
          if (!isAppError(error)) throw error;
          res.status(error.status).locals.confirmError = { text: error.message, field: field(req) };
          return next();
        }
        req.session.securityConfirmedAt = Date.now();
        const minutes = CONFIRMATION_WINDOW_SECONDS / 60;
        back(req, res, 'success', `${done} For the next ${minutes} minutes you can change how you sign in.`, 'page');
      } catch (error) {
        next(error);
      }
    };
  const mustBeConfirmed = (req: Request) => {
    if (!confirmedRecently(req)) throw new ConfirmationNeededError();
  };
  const body = (req: Request) => req.body as Record<string, unknown>;

  // What the page shows of passkeys, recovery codes and the confirmation, as view locals.
  const locals = async (req: Request, res: Response, next: express.NextFunction) => {
    try {
      const user = await person(req);
      if (user) {
        const ctx = deps.context(req);
        const confirmed = confirmedRecently(req);
        Object.assign(res.locals, {
          passkeyScript: await deps.script.path(),
          passkeys: await listPasskeys(ctx, user.id),
          confirmed,
          confirmMinutes: CONFIRMATION_WINDOW_SECONDS / 60,
          confirmWithCode: await hasConfirmedTotp(ctx, user.id),
          mayRegenerateCodes: await hasSecondFactor(ctx, user.id),
          ...(await lastFactorOf(ctx, user)),
          passkeySignIn: await passwordlessAllowed(ctx),
          accountNotice: noticeOf(req),
        });
        delete req.session.accountNotice;
        // New codes the page after their post did not show (it was never reached) are not shown later either.
        delete req.session.newRecoveryCodes;
      }
      next();
    } catch (error) {
      next(error);
    }
  };
  return { person, post, mustBeConfirmed, body, locals, back, confirmation };
}
