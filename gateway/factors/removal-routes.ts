import express, { Router, type Request } from 'express';
import type { User } from '../models/index.ts';
import { NotUnderstoodError } from './errors.ts';
import type { AccountPasskeyDeps, accountPageHelpers } from './passkeys/account-routes.ts';
import { removePasskey } from './passkeys/manage-passkeys.ts';
import { hasSecondFactor } from './passkeys/second-factor-choices.ts';
import { removeOwnTotp } from './remove-totp.ts';

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/**
 * Removing a passkey or the authenticator app on `/account/security` (mounted by accountPasskeyRoutes):
 * after a recent sign-in or confirmation, and as a second step, the "I understand" box beside the button
 * (the pages run no inline script: the browser asks for the required box, and a post without it is
 * refused). Where the policy requires a second factor, the last one stays (gateway/factors/last-factor.ts).
 */
export function accountRemovalRoutes(
  deps: AccountPasskeyDeps,
  { post, mustBeConfirmed, body }: ReturnType<typeof accountPageHelpers>,
): Router {
  const router = Router();
  const mustBeUnderstood = (req: Request, what: string) => {
    if (body(req).understood !== 'yes') throw new NotUnderstoodError(what);
  };
  const ifNoneLeft = async (req: Request, user: User) =>
    (await hasSecondFactor(deps.context(req), user.id))
      ? ''
      : ' You have no second factor now: your sign-in asks for your password alone.';

  router.post(
    '/security/passkeys/:id/remove',
    form,
    deps.csrf.check,
    post(async (req, _res, user) => {
      mustBeConfirmed(req);
      mustBeUnderstood(req, 'remove the passkey');
      const removed = await removePasskey(deps.context(req), user, req.params.id);
      return `Removed the passkey “${removed.name}”.${await ifNoneLeft(req, user)}`;
    }, 'passkeys'),
  );

  router.post(
    '/security/totp/remove',
    form,
    deps.csrf.check,
    post(async (req, _res, user) => {
      mustBeConfirmed(req);
      mustBeUnderstood(req, 'remove the authenticator app');
      await removeOwnTotp(deps.context(req), user);
      return `Removed the authenticator app: its codes no longer work.${await ifNoneLeft(req, user)}`;
    }, 'authenticator'),
  );

  return router;
}
