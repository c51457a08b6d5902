import express, { Router } from 'express';
import type { SecuritySectionDeps } from '../portal/routes/security-page.ts';
import { portalBinding } from './binding.ts';
import { confirmedRecently } from './confirm-identity.ts';
import { ConfirmationNeededError } from './passkeys/errors.ts';
import { beginTotpReplacement, confirmTotpReplacement } from './replace-totp.ts';
import type { TotpDeps } from './totp.ts';

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 64) : '');

/**
 * "Replace the authenticator app" on `/account/security` (a new phone, the old one lost): starting shows a
 * new key beside the one in use, which goes on working until a code from the new phone proves the new key
 * (replace-totp.ts). Both steps need a recent sign-in (a recovery code's as well) or confirmation, as
 * setting one up does; a refusal comes back as the notice of the app's section, beside the key still open.
 */
export function replaceTotpRoutes(deps: SecuritySectionDeps & { totp: TotpDeps }): Router {
  const router = Router();
  const mustBeConfirmed = (req: express.Request) => {
    if (!confirmedRecently(req)) throw new ConfirmationNeededError();
  };

  router.post(
    '/security/totp/replace/start',
    form,
    deps.csrf.check,
    deps.post(async (req, res, user) => {
      mustBeConfirmed(req);
      await beginTotpReplacement(deps.context(req), deps.totp, user, portalBinding(req));
      res.redirect(303, '/account/security#authenticator');
    }, 'authenticator'),
  );

  router.post(
    '/security/totp/replace',
    form,
    deps.csrf.check,
    deps.post(async (req, _res, user) => {
      mustBeConfirmed(req);
      const { code, replacement } = req.body as Record<string, unknown>;
      await confirmTotpReplacement(
        deps.context(req),
        deps.totp,
        user,
        { code: text(code), ref: text(replacement) },
        portalBinding(req),
      );
      return 'Replaced the authenticator app: sign-ins now ask for a code from the new phone, and the old one’s codes no longer work.';
    }, 'authenticator'),
  );

  // A reload or a link kept: the page, which shows a replacement still open.
  router.get(['/security/totp/replace', '/security/totp/replace/start'], (_req, res) =>
    res.redirect(303, '/account/security#authenticator'),
  );

  return router;
}
