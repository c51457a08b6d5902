import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Sealer } from '../../core/seal.ts';
import type { AccountPasskeyDeps, accountPageHelpers } from './passkeys/account-routes.ts';
import { recoveryCodesDownload } from './recovery-codes-download.ts';
import { regenerateRecoveryCodes } from './regenerate-recovery-codes.ts';

/**
 * What a page of recovery codes came after: codes made on their own, or a second factor set up. `kept`,
 * once the page was shown, where the setup made no codes and left the person's own as they were.
 */
const codesForSchema = z.discriminatedUnion('made', [
  z.object({ made: z.literal('new') }),
  z.object({ made: z.literal('totp'), kept: z.literal(true).optional() }),
  z.object({ made: z.literal('passkey'), notice: z.string(), kept: z.literal(true).optional() }),
]);
export type CodesFor = z.infer<typeof codesForSchema>;

const sealedSchema = z.object({ codes: z.array(z.string()), for: codesForSchema });

declare module 'express-session' {
  interface SessionData {
    /** New recovery codes and what made them, sealed, between the post and the page that shows them once. */
    newRecoveryCodes?: string;
    /** What that page showed here: opened again, it says so, without the codes. */
    recoveryCodesShown?: CodesFor;
  }
}

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/** Where a post that made recovery codes leads: the page that shows them, once. */
const CODES_PAGE = '/account/security/recovery-codes';
const SHOWN_ONCE =
  'Those recovery codes were shown once and are not shown again. If you did not keep them, make new ones: they replace all the old ones.';

/**
 * Ends a post of the account page that made recovery codes (new ones, or those of a first authenticator
 * app or passkey): sealed as the authenticator keys are, they wait in the session for as long as the
 * redirect takes (the page drops any left), and the page it leads to shows them once. So a reload or
 * Back and Forward never posts again, which would refuse the setup just done, or replace the codes shown.
 */
export function showRecoveryCodesOnce(req: Request, res: Response, sealer: Sealer, codes: string[], made: CodesFor) {
  req.session.newRecoveryCodes = sealer.seal(JSON.stringify({ codes, for: made }));
  res.redirect(303, CODES_PAGE);
}

function takeCodes(req: Request, sealer: Sealer) {
  const sealed = req.session.newRecoveryCodes;
  delete req.session.newRecoveryCodes;
  if (!sealed) return null;
  try {
    return sealedSchema.parse(JSON.parse(sealer.open(sealed)));
  } catch {
    // Sealed under a secret key that has changed since, or in an older shape: nothing can be shown.
    return null;
  }
}

/**
 * The page of codes for what made them; `codes` absent, as it says when opened again: that they were
 * shown once, or, where the setup kept the person's codes, that those are unchanged, as it said at first.
 */
function render(res: Response, made: CodesFor, shown?: { codes: string[]; username: string }) {
  const codes = shown
    ? { codes: shown.codes, download: recoveryCodesDownload(shown.codes, shown.username) }
    : made.made !== 'new' && made.kept
      ? { codes: [] }
      : undefined;
  if (made.made === 'new') return res.render('recovery-codes-new', { title: 'New recovery codes', ...codes });
  const factor = made.made === 'passkey' ? { factor: 'passkey', notice: made.notice } : {};
  res.render('recovery-codes', {
    title: made.made === 'passkey' ? 'Passkey added' : 'Authenticator set up',
    ...factor,
    ...codes,
  });
}

/**
 * "Make new recovery codes" on `/account/security` (mounted by accountPasskeyRoutes), after a recent
 * sign-in or confirmation, and the page that shows new codes once, as the sign-in's setup step shows its
 * codes: a reload of that page (or its address kept) makes no new ones, which would silently replace the
 * ones just saved, and shows none. After new codes it says so on the account page, where new ones are
 * made; after a setup it stays the setup's page ("Your authenticator is set up"), saying where to make them.
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
      showRecoveryCodesOnce(req, res, deps.totp.sealer, codes, { made: 'new' });
    }, 'codes'),
  );

  router.get('/security/recovery-codes', async (req, res, next) => {
    try {
      const user = await person(req);
      const kept = takeCodes(req, deps.totp.sealer);
      if (!user) return res.redirect(303, '/account/security');
      if (kept) {
        req.session.recoveryCodesShown =
          kept.for.made !== 'new' && kept.codes.length === 0 ? { ...kept.for, kept: true } : kept.for;
        res.set('Cache-Control', 'no-store');
        return render(res, kept.for, { codes: kept.codes, username: user.username });
      }
      // No codes were shown here: nothing to say of them.
      const shown = codesForSchema.safeParse(req.session.recoveryCodesShown);
      if (!shown.success) return res.redirect(303, '/account/security');
      if (shown.data.made === 'new') return back(req, res, 'info', SHOWN_ONCE, 'codes');
      render(res, shown.data);
    } catch (error) {
      next(error);
    }
  });

  return router;
}
