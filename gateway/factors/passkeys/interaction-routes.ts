import express, { Router, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { isAppError } from '../../../core/errors.ts';
import { setRetryAfter } from '../../../core/retry-after.ts';
import { AccountDisabledError } from '../../accounts/authenticate.ts';
import {
  finishSignIn,
  pendingPerson,
  pendingSignIn,
  renderPendingStep,
  type SecondFactorDeps,
} from '../../interactions/second-factor-routes.ts';
import { MFA_ACR } from '../acr.ts';
import { PASSKEY_AS_SECOND_FACTOR_AMR, PASSWORDLESS_AMR } from './amr.ts';
import { beginPasskeyAssertion, verifyPasskeyAssertion } from './assertion.ts';
import { passkeyEnrolmentRoutes } from './enrolment-routes.ts';
import { PasswordlessOffError } from './errors.ts';
import { answerOptions, jsonBody } from './json-answers.ts';
import type { PasskeyPageScript } from './page-script.ts';
import { passwordlessAllowed } from './passwordless-policy.ts';
import type { PasskeyDeps } from './relying-party.ts';
import { interactionBinding } from '../binding.ts';
import { refuseLogin } from '../../interactions/login-refusal.ts';

export type PasskeyInteractionDeps = SecondFactorDeps & { passkeys: PasskeyDeps; script: PasskeyPageScript };

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const form = express.urlencoded({ extended: false, limit: '48kb', parameterLimit: 10 });
// A challenge answered in this interaction can be answered nowhere else.

/**
 * Passkeys at sign-in: as the second step after a password (beside a code), as the factor set up where a
 * sign-in needs one (enrolment-routes.ts), and, where the administrator allows it, instead of the password ("Sign in with a passkey" on the login page).
 * Mounted before the interaction routes, whose pages it gives what they need to offer a passkey.
 */
export function passkeyInteractionRoutes(deps: PasskeyInteractionDeps): Router {
  const router = Router();

  // What the login and second-step pages need to show the passkey buttons, as view locals.
  const offer = async (req: Request, res: Response, next: express.NextFunction) => {
    try {
      res.locals.passkeyScript = await deps.script.path();
      res.locals.passkeySignIn = await passwordlessAllowed(deps.context(req));
      next();
    } catch (error) {
      next(error);
    }
  };
  router.get('/interaction/:uid', offer);
  router.post(
    ['/interaction/:uid/login', '/interaction/:uid/code', '/interaction/:uid/enrol', '/interaction/:uid/totp/start'],
    offer,
  );

  router.post(
    '/interaction/:uid/passkey/options',
    jsonBody,
    deps.csrf.check,
    answerOptions(async (req, res) => {
      const ctx = deps.context(req);
      const details = await deps.provider().interactionDetails(req, res);
      const pending = pendingSignIn(details);
      if (details.prompt.name === 'login' && pending?.step === 'code') {
        const user = await pendingPerson(ctx, pending);
        if (!user) throw new AccountDisabledError();
        return beginPasskeyAssertion(ctx, deps.passkeys, interactionBinding(details), 'second-factor', user);
      }
      if (details.prompt.name !== 'login' || pending) throw new PasswordlessOffError();
      if (!(await passwordlessAllowed(ctx))) throw new PasswordlessOffError();
      return beginPasskeyAssertion(ctx, deps.passkeys, interactionBinding(details), 'passwordless', null);
    }),
  );

  // The second step with a passkey, after a correct password.
  router.post('/interaction/:uid/passkey', form, deps.csrf.check, offer, async (req, res, next) => {
    try {
      const details = await deps.provider().interactionDetails(req, res);
      const pending = pendingSignIn(details);
      if (details.prompt.name !== 'login' || pending?.step !== 'code')
        return res.redirect(303, `/interaction/${details.uid}`);
      try {
        await verifyPasskeyAssertion(deps.context(req), deps.passkeys, deps.loginPolicy, {
          binding: interactionBinding(details),
          purpose: 'second-factor',
          expectedUserId: pending.accountId,
          response: (req.body as Record<string, unknown>).response,
        });
      } catch (error) {
        if (!isAppError(error)) throw error;
        return await renderPendingStep(deps, req, res, details, pending, error);
      }
      await finishSignIn(deps, req, res, {
        accountId: pending.accountId,
        amr: PASSKEY_AS_SECOND_FACTOR_AMR,
        acr: MFA_ACR,
      });
    } catch (error) {
      next(error);
    }
  });

  router.use(passkeyEnrolmentRoutes(deps, offer));

  // A sign-in with a passkey alone: the authenticator verified its owner, so it counts as two factors.
  router.post('/interaction/:uid/passkey-login', form, deps.csrf.check, offer, async (req, res, next) => {
    try {
      const details = await deps.provider().interactionDetails(req, res);
      if (details.prompt.name !== 'login' || pendingSignIn(details))
        return res.redirect(303, `/interaction/${details.uid}`);
      const ctx = deps.context(req);
      try {
        if (!(await passwordlessAllowed(ctx))) throw new PasswordlessOffError();
        const { user } = await verifyPasskeyAssertion(ctx, deps.passkeys, deps.loginPolicy, {
          binding: interactionBinding(details),
          purpose: 'passwordless',
          expectedUserId: null,
          response: (req.body as Record<string, unknown>).response,
        });
        await finishSignIn(deps, req, res, { accountId: user.id, amr: PASSWORDLESS_AMR, acr: MFA_ACR });
      } catch (error) {
        if (!isAppError(error)) throw error;
        // As a refused password is: said once on the login page the redirect leads to (post/redirect/get).
        res.status(error.status);
        setRetryAfter(res, error);
        await refuseLogin(deps, req, res, details, {
          loginHint: undefined,
          error: error.message,
          wrongPassword: false,
        });
      }
    } catch (error) {
      next(error);
    }
  });

  return router;
}
