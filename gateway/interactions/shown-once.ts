import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import { AppError } from '../../core/errors.ts';
import { InvalidCodeError } from '../factors/errors.ts';
import type { PendingSignIn } from './second-factor-routes.ts';

/**
 * What a sign-in step's post leaves for the step's page to show once, after the redirect that answers the
 * post (post/redirect/get): the browser's Back and Reload then ask for the page again, never post a code
 * again. Kept in the interaction (server-side, bound to the browser's interaction cookie) and dropped
 * once shown, so a reload shows the step as it is now, and counts nothing.
 */

/** Which of the step's code fields a code came from (its form's `kind`): the app's, or a recovery code's. */
export type CodeKind = 'app' | 'recovery';

/** A refused post's error, as the step's page says it: a code refused is said at the field of `codeKind`. */
export type Refusal = {
  code: string;
  status: number;
  message: string;
  details?: Record<string, unknown>;
  codeKind?: CodeKind;
  /** A refusal of the code typed that says more than "not valid" (just used, not six digits, of a replaced set). */
  ownWords?: true;
};

export function refusalOf(error: { status: number; message: string }, kind: CodeKind | undefined): Refusal {
  const app = error instanceof AppError ? error : null;
  // Whatever is said of the code typed is said at its field (invalid_code: wrong, just used, cut short).
  const ofTheCode = app?.code === 'invalid_code' && kind !== undefined;
  return {
    code: app?.code ?? 'refused',
    status: error.status,
    message: error.message,
    ...(app?.details ? { details: app.details } : {}),
    ...(ofTheCode ? { codeKind: kind } : {}),
    ...(ofTheCode && error.constructor !== InvalidCodeError ? { ownWords: true as const } : {}),
  };
}

export function refusedError(refused: Refusal): { error: AppError; kind: CodeKind | undefined; ownWords: boolean } {
  return {
    error: new AppError(refused.code, refused.status, refused.message, refused.details),
    kind: refused.codeKind,
    ownWords: refused.ownWords === true,
  };
}

/** Keeps the pending sign-in, with what its page is to show once, in the interaction. */
export async function remember(provider: Provider, req: Request, res: Response, pending: PendingSignIn): Promise<void> {
  await provider.interactionResult(req, res, { atrium: pending }, { mergeWithLastSubmission: false });
}

/** Drops what the page now shows (`shown`) from the interaction: a reload shows it no more. */
export async function showOnce(
  provider: Provider,
  req: Request,
  res: Response,
  pending: PendingSignIn,
  shown: 'refused' | 'codes',
): Promise<void> {
  const { [shown]: _shown, ...rest } = pending;
  await remember(provider, req, res, rest);
}
