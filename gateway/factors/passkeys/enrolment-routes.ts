import express, { Router, type RequestHandler } from 'express';
import { isAppError } from '../../../core/errors.ts';
import { AccountDisabledError } from '../../accounts/authenticate.ts';
import {
  pendingPerson,
  pendingSignIn,
  renderPendingStep,
  showEnrolled,
  type SecondFactorDeps,
} from '../../interactions/second-factor-routes.ts';
import { interactionBinding } from '../binding.ts';
import { PasskeyChallengeError } from './errors.ts';
import { answerOptions, jsonBody } from './json-answers.ts';
import { beginPasskeyRegistration, finishPasskeyRegistration, type RegisteredPasskey } from './registration.ts';
import type { PasskeyDeps } from './relying-party.ts';

const form = express.urlencoded({ extended: false, limit: '48kb', parameterLimit: 10 });

/**
 * A passkey as the factor set up at a sign-in that needs one (the policy, or the app's acr_values), beside
 * the authenticator app of the same step: registered to the interaction, then its recovery codes are shown
 * once and the sign-in counts it as its second factor. `offer` gives the step's page its passkey locals.
 */
export function passkeyEnrolmentRoutes(
  deps: SecondFactorDeps & { passkeys: PasskeyDeps },
  offer: RequestHandler,
): Router {
  const router = Router();

  router.post(
    '/interaction/:uid/passkey/register-options',
    jsonBody,
    deps.csrf.check,
    answerOptions(async (req, res) => {
      const ctx = deps.context(req);
      const details = await deps.provider().interactionDetails(req, res);
      const pending = pendingSignIn(details);
      if (details.prompt.name !== 'login' || pending?.step !== 'enrol') throw new PasskeyChallengeError();
      const user = await pendingPerson(ctx, pending);
      if (!user) throw new AccountDisabledError();
      const { name } = req.body as Record<string, unknown>;
      return beginPasskeyRegistration(ctx, deps.passkeys, user, interactionBinding(details), name);
    }),
  );

  router.post('/interaction/:uid/passkey/register', form, deps.csrf.check, offer, async (req, res, next) => {
    try {
      const details = await deps.provider().interactionDetails(req, res);
      const pending = pendingSignIn(details);
      if (details.prompt.name !== 'login' || pending?.step !== 'enrol')
        return res.redirect(303, `/interaction/${details.uid}`);
      const ctx = deps.context(req);
      const user = await pendingPerson(ctx, pending);
      if (!user) return res.redirect(303, `/interaction/${details.uid}`);
      const body = req.body as Record<string, unknown>;
      let registered: RegisteredPasskey;
      try {
        // Only as the first factor: after a password alone, nobody adds one beside a factor set up meanwhile.
        registered = await finishPasskeyRegistration(ctx, deps.passkeys, user, interactionBinding(details), {
          name: body.name,
          response: body.response,
          firstFactorOnly: true,
        });
      } catch (error) {
        if (!isAppError(error)) throw error;
        return await renderPendingStep(deps, req, res, details, pending, error);
      }
      await showEnrolled(deps, req, res, details, pending, {
        factor: 'passkey',
        codes: registered.recoveryCodes ?? [],
        user,
      });
    } catch (error) {
      next(error);
    }
  });

  return router;
}
