import type { Request } from 'express';
import { decodeJwt } from 'jose';
import { AppError, ValidationError } from '../../core/errors.ts';
import { AccountLockedError, countFailure, passwordIsTheirs, type LoginPolicy } from '../accounts/authenticate.ts';
import { CURRENT_PASSWORD_MAX, PASSWORD_FAR_TOO_LONG } from '../accounts/change-password.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { asPerson } from './passkeys/person.ts';
import { checkTotpCode, hasConfirmedTotp, type TotpDeps } from './totp.ts';

declare module 'express-session' {
  interface SessionData {
    /** When the person last confirmed it is them on the account page (ms since the epoch). */
    securityConfirmedAt?: number;
  }
}

/**
 * How long a sign-in, or a confirmation on the account page, lets a person change how they sign in
 * (add or remove a passkey, make new recovery codes) without showing again that it is them: a session
 * left open on a shared computer soon stops being enough.
 */
export const CONFIRMATION_WINDOW_SECONDS = 600;

export class ConfirmationFailedError extends AppError {
  constructor() {
    super(
      'confirmation_failed',
      401,
      'That is not your current password or a current code from your authenticator app.',
    );
  }
}

/**
 * Whether the portal session's person signed in, or confirmed it is them, within the window. The
 * sign-in counts by the portal's ID token's `auth_time` (the portal client requires it): the time the
 * person last authenticated at the gateway, which an existing gateway session reused keeps as it was.
 */
export function confirmedRecently(req: Request, now = Date.now()): boolean {
  const since = now - CONFIRMATION_WINDOW_SECONDS * 1000;
  if ((req.session.securityConfirmedAt ?? 0) > since) return true;
  const idToken = req.session.portalIdToken;
  if (!idToken) return false;
  try {
    const authTime = decodeJwt(idToken).auth_time;
    return typeof authTime === 'number' && authTime * 1000 > since;
  } catch {
    return false;
  }
}

/** Whether the password is theirs (passwordIsTheirs); a directory that does not answer is "try again later". */
async function passwordIsRight(
  ctx: GatewayContext,
  policy: LoginPolicy,
  user: User,
  password: string,
  fail: (error: AppError, reason: string) => Promise<AppError>,
): Promise<boolean> {
  try {
    return await passwordIsTheirs(ctx, user, password, policy);
  } catch (error) {
    if (error instanceof AppError) throw await fail(error, error.code);
    throw error;
  }
}

/**
 * The confirmation as typed, before any secret is checked: nothing typed (a stray click on Confirm) or a
 * password far longer than any can be is refused without a check, and counts as no guess.
 */
async function readConfirmation(
  ctx: GatewayContext,
  user: User,
  input: { password: unknown; code: unknown },
): Promise<{ password: string; code: string }> {
  const password = typeof input.password === 'string' ? input.password : '';
  const code = typeof input.code === 'string' ? input.code.trim().slice(0, 64) : '';
  if (!password && !code)
    throw new ValidationError(
      (await hasConfirmedTotp(ctx, user.id))
        ? 'Enter your current password or a code from your authenticator app.'
        : 'Enter your current password.',
      { password: 'required' },
    );
  if (password.length > CURRENT_PASSWORD_MAX)
    throw new ValidationError(PASSWORD_FAR_TOO_LONG, { password: 'too long' });
  return { password, code };
}

/**
 * A person shows again that it is them with their password or a current authenticator code (a passkey
 * works as well: see passkeys/assertion.ts). Wrong answers count toward the lockout like at sign-in.
 */
export async function confirmIdentity(
  ctx: GatewayContext,
  totp: TotpDeps,
  policy: LoginPolicy,
  user: User,
  input: { password: unknown; code: unknown },
): Promise<'pwd' | 'otp'> {
  const person = asPerson(ctx, user);
  const fail = async (error: AppError, reason: string) => {
    await audit(person, { action: 'account.confirm', target: user.username, outcome: 'failure', details: { reason } });
    return error;
  };
  let typed: { password: string; code: string };
  try {
    typed = await readConfirmation(ctx, user, input);
  } catch (error) {
    throw error instanceof AppError ? await fail(error, 'invalid_input') : error;
  }
  if (user.lockedUntil && user.lockedUntil > new Date())
    throw await fail(AccountLockedError.until(user.lockedUntil), 'locked');
  const { password, code } = typed;
  let method: 'pwd' | 'otp' | null = null;
  if (code && (await checkTotpCode(ctx, totp, user, code))) method = 'otp';
  else if (password && (await passwordIsRight(ctx, policy, user, password, fail))) method = 'pwd';
  if (!method) {
    const locked = await countFailure(ctx, user, policy);
    throw await fail(
      locked ? AccountLockedError.until(user.lockedUntil) : new ConfirmationFailedError(),
      code ? 'wrong_code' : 'wrong_password',
    );
  }
  await audit(person, { action: 'account.confirm', target: user.username, details: { method } });
  return method;
}
