import { AccountDisabledError, AccountLockedError, countFailure, type LoginPolicy } from '../accounts/authenticate.ts';
import {
  countDeviceFailure,
  type KnownDevices,
  LET_THROUGH,
  lockState,
  NO_KNOWN_DEVICES,
} from '../accounts/known-devices.ts';
import { saveUser } from '../accounts/save-bookkeeping.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { InvalidCodeError } from './errors.ts';
import {
  looksLikeRecoveryCode,
  ReplacedRecoveryCodeError,
  replacedRecoveryCodeSet,
  useRecoveryCode,
} from './recovery-codes.ts';
import { TotpCodeJustUsedError, TotpCodeNotSixDigitsError } from './totp-errors.ts';
import { checkTotpCodeOutcome, type TotpDeps } from './totp.ts';

/**
 * The second step of a sign-in, after a correct password: a current authenticator code (once per time
 * step) or an unused recovery code. Wrong codes count toward the same lockout as wrong passwords, and
 * against this browser when it is known for the account: a known browser goes on through a lock as it
 * does at the password (known-devices.ts). Returns which kind of code was used.
 */
export async function verifySecondFactor(
  ctx: GatewayContext,
  deps: TotpDeps,
  userId: string,
  code: string,
  policy: LoginPolicy,
  devices: KnownDevices = NO_KNOWN_DEVICES,
): Promise<{ user: User; method: 'totp' | 'recovery_code' }> {
  const user = await ctx.models.User.findByPk(userId);
  // The interaction outlives the password check; what happened to the account meanwhile still counts.
  if (!user || user.status !== 'active') throw new AccountDisabledError();
  const fail = async (error: Error, reason: string) => {
    await audit(ctx, { action: 'login.second_factor', target: user.username, outcome: 'failure', details: { reason } });
    return error;
  };
  const lock = await lockState(policy.deviceLimiter, user, devices);
  if (lock === 'locked' || lock === 'device_locked') throw await fail(AccountLockedError.until(user.lockedUntil), lock);

  const trimmed = code.trim().slice(0, 64);
  let method: 'totp' | 'recovery_code' | null = null;
  const outcome = await checkTotpCodeOutcome(ctx, deps, user, trimmed);
  if (outcome === 'accepted') method = 'totp';
  // A right code used a moment ago (another tab) is refused as a replay, but proves the person holds the app.
  else if (outcome === 'just_used') throw await fail(new TotpCodeJustUsedError(), 'code_just_used');
  else if (looksLikeRecoveryCode(trimmed) && (await useRecoveryCode(ctx, user.id, trimmed))) method = 'recovery_code';
  // Not six digits, nor a recovery code: no guess at all (a slip, a code cut short), so not counted as one.
  else if (outcome === 'not_six_digits' && !looksLikeRecoveryCode(trimmed))
    throw await fail(new TotpCodeNotSixDigitsError(), 'not_six_digits');
  if (!method) {
    await countFailure(ctx, user, policy);
    await countDeviceFailure(policy.deviceLimiter, user, devices);
    // Locked now for this browser, by this code or not: the step says so rather than ask for another.
    const now = await lockState(policy.deviceLimiter, user, devices);
    const locked = now === 'locked' || now === 'device_locked';
    if (locked) throw await fail(AccountLockedError.until(user.lockedUntil), 'wrong_code');
    // A code of a set newer codes replaced: as wrong as any other, but said, so the newest set is looked for.
    const replaced = await replacedRecoveryCodeSet(ctx, user.id, trimmed);
    throw await fail(replaced ? new ReplacedRecoveryCodeError(replaced) : new InvalidCodeError(), 'wrong_code');
  }
  // Through a lock, the lock's count stays for every other browser.
  if (lock !== 'let_through') user.failedLogins = 0;
  await saveUser(user);
  await audit(
    { ...ctx, actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] } },
    {
      action: 'login.second_factor',
      target: user.username,
      details: lock === 'let_through' ? { method, ...LET_THROUGH } : { method },
    },
  );
  return { user, method };
}
