import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import { isAppError } from '../../core/errors.ts';
import { chooseOwnPassword } from '../accounts/choose-own-password.ts';
import { PASSWORD_MAX, PASSWORD_MIN } from '../accounts/schemas.ts';
import {
  finishSignIn,
  type PendingSignIn,
  pendingPerson,
  renderPendingStep,
  type SecondFactorDeps,
} from './second-factor-routes.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * The `new-password` step's page: the person signed in with a temporary password (and their second
 * factor), and chooses their own before the sign-in goes on. A refusal comes back to it by a redirect and
 * is shown once (renderPendingStep), never with what was typed.
 */
export async function renderChoosePassword(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  error?: { status: number; message: string },
): Promise<void> {
  const pending = details.result as { atrium?: PendingSignIn } | undefined;
  const user = pending?.atrium
    ? await deps.context(req).models.User.findByPk(pending.atrium.accountId, { attributes: ['id', 'username'] })
    : null;
  const client = await deps.provider().Client.find(String(details.params.client_id));
  res.status(error?.status ?? 200).render('choose-password', {
    title: 'Choose your own password',
    uid: details.uid,
    csrf: deps.csrf.token(req, res),
    clientName: client?.clientName ?? client?.clientId,
    username: user?.username,
    error: error?.message,
    passwordMin: PASSWORD_MIN,
    passwordMax: PASSWORD_MAX,
    action: `/interaction/${details.uid}/new-password`,
    abortAction: `/interaction/${details.uid}/abort`,
  });
}

/** The step's post: their own password saved, the sign-in finishes as it began (its amr and acr). */
export const choosePasswordRoute =
  (deps: SecondFactorDeps) =>
  async (req: Request, res: Response, details: Details, pending: PendingSignIn): Promise<void> => {
    const ctx = deps.context(req);
    const user = await pendingPerson(ctx, pending);
    if (!user || !pending.login) return res.redirect(303, `/interaction/${details.uid}`);
    const body = req.body as Record<string, unknown>;
    try {
      await chooseOwnPassword(ctx, user, { password: body.password, confirmation: body.confirmation });
    } catch (error) {
      if (!isAppError(error)) throw error;
      return renderPendingStep(deps, req, res, details, pending, error);
    }
    await finishSignIn(deps, req, res, pending.login);
  };
