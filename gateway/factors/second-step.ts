import { AccountDisabledError, AccountLockedError, countFailure, type LoginPolicy } from '../accounts/authenticate.ts';
import { saveUser } from '../accounts/save-bookkeeping.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { InvalidCodeError } from './errors.ts';
import { looksLikeRecoveryCode, useRecoveryCode } from './recovery-codes.ts';
import { checkTotpCode, type TotpDeps } from './totp.ts';

/**
 * The second step of a sign-in, after a correct password: a current authenticator code (once per time
 * step) or an unused recovery code. Wrong codes count toward the same lockout as wrong passwords.
 * Returns which kind of code was used.
 */
export async function verifySecondFactor(
  ctx: GatewayContext,
  deps: TotpDeps,
  userId: string,
  code: string,
  policy: LoginPolicy,
): Promise<{ user: User; method: 'totp' | 'recovery_code' }> {
  const user = await ctx.models.User.findByPk(userId);
  // The interaction outlives the password check; what happened to the account meanwhile still counts.
  if (!user || user.status !== 'active') throw new AccountDisabledError();
  const fail = async (error: Error, reason: string) => {
    await audit(ctx, { action: 'login.second_factor', target: user.username, outcome: 'failure', details: { reason } });
    return error;
  };
  if (user.lockedUntil && user.lockedUntil > new Date())
    throw await fail(new AccountLockedError(policy.lockoutMinutes * 60), 'locked');

  const trimmed = code.trim().slice(0, 64);
  let method: 'totp' | 'recovery_code' | null = null;
  if (await checkTotpCode(ctx, deps, user, trimmed)) method = 'totp';
  else if (looksLikeRecoveryCode(trimmed) && (await useRecoveryCode(ctx, user.id, trimmed))) method = 'recovery_code';
  if (!method) {
    const locked = await countFailure(ctx, user, policy);
    throw await fail(
      locked ? new AccountLockedError(policy.lockoutMinutes * 60) : new InvalidCodeError(),
      'wrong_code',
    );
  }
  user.failedLogins = 0;
  await saveUser(user);
  await audit(
    { ...ctx, actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] } },
    {
      action: 'login.second_factor',
      target: user.username,
      details: { method },
    },
  );
  return { user, method };
}
