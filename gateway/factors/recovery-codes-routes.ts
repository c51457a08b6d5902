import express, { Router } from 'express';
import type { AccountPasskeyDeps, accountPageHelpers } from './passkeys/account-routes.ts';
import { recoveryCodesDownload } from './recovery-codes-download.ts';
import { regenerateRecoveryCodes } from './regenerate-recovery-codes.ts';

declare module 'express-session' {
  interface SessionData {
    /** New recovery codes, sealed, between the post that made them and the page that shows them once. */
    newRecoveryCodes?: string;
    /** That page was shown here: opened again, it says the codes are not shown again. */
    recoveryCodesShown?: boolean;
  }
}

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/** Where making new recovery codes leads: the page that shows them, once. */
const NEW_CODES_PAGE = '/account/security/recovery-codes';
const SHOWN_ONCE =
  'Those recovery codes were shown once and are not shown again. If you did not keep them, make new ones: they replace all the old ones.';

/**
 * "Make new recovery codes" on `/account/security` (mounted by accountPasskeyRoutes), after a recent
 * sign-in or confirmation. The post makes them and leads to the page that shows them, once, as the
 * sign-in's setup step shows its codes: a reload of that page (or its address kept) makes no new ones,
 * which would silently replace the ones just saved, and shows none; it says where to make new ones.
 */
export function accountRecoveryCodesRoutes(
  deps: AccountPasskeyDeps,
  { person, post, mustBeConfirmed, back }: ReturnType<typeof accountPageHelpers>,
): Router {
  const router = Router();

  router.post(
    '/security/recovery-codes',
    form,
    deps.csrf.check,
    post(async (req, res, user) => {
      mustBeConfirmed(req);
      const codes = await regenerateRecoveryCodes(deps.context(req), user);
      // Sealed as the authenticator keys are, for as long as the redirect takes (the page drops any left).
      req.session.newRecoveryCodes = deps.totp.sealer.seal(JSON.stringify(codes));
      res.redirect(303, NEW_CODES_PAGE);
    }, 'codes'),
  );

  router.get('/security/recovery-codes', async (req, res, next) => {
    try {
      const user = await person(req);
      const sealed = req.session.newRecoveryCodes;
      delete req.session.newRecoveryCodes;
      if (user && sealed) {
        const codes = JSON.parse(deps.totp.sealer.open(sealed)) as string[];
        req.session.recoveryCodesShown = true;
        return res.set('Cache-Control', 'no-store').render('recovery-codes-new', {
          title: 'New recovery codes',
          codes,
          download: recoveryCodesDownload(codes, user.username),
        });
      }
      if (user && req.session.recoveryCodesShown) return back(req, res, 'info', SHOWN_ONCE, 'codes');
      res.redirect(303, '/account/security');
    } catch (error) {
      next(error);
    }
  });

  return router;
}
