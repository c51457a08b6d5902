import { AppError, ValidationError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { assertPasswordIsLocal } from '../directories/local-password.ts';
import { asPerson } from '../factors/passkeys/person.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import {
  AccountLockedError,
  addressKey,
  countFailure,
  type LoginPolicy,
  NetworkRateLimitedError,
} from './authenticate.ts';
import { replacePassword } from './end-access.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { passwordSchema } from './schemas.ts';
import { refuseWeakPassword } from './weak-passwords.ts';

/**
 * Far longer than any password Atrium sets (passwordSchema): a longer "current password" cannot be right,
 * and is refused before it costs a hash or counts as a guess.
 */
export const CURRENT_PASSWORD_MAX = 1024;

/** What a current password longer than CURRENT_PASSWORD_MAX is told. */
export const PASSWORD_FAR_TOO_LONG = 'That is not your current password: it is far too long.';

/** Uses the code of "confirm it is you": the current password is that confirmation here. */
export class WrongCurrentPasswordError extends AppError {
  constructor() {
    super('confirmation_failed', 401, 'That is not your current password. Nothing was changed.');
  }
}

export type PasswordChange = { current: unknown; password: unknown; confirmation: unknown };

/** The form as typed, before any secret is checked: refusals here test nothing and count as nothing. */
function readChange(input: PasswordChange): { current: string; password: string } {
  const current = typeof input.current === 'string' ? input.current : '';
  if (!current) throw new ValidationError('Enter your current password.', { current: 'required' });
  if (current.length > CURRENT_PASSWORD_MAX) throw new ValidationError(PASSWORD_FAR_TOO_LONG, { current: 'too long' });
  const plain = passwordSchema.safeParse(input.password);
  if (!plain.success) {
    const reason = plain.error.issues[0]?.message ?? 'invalid';
    throw new ValidationError(`The new password is not acceptable: ${reason}.`, { password: reason });
  }
  if (input.confirmation !== plain.data)
    throw new ValidationError('The two new passwords differ: type the same new password twice.', {
      confirmation: 'type the same password twice',
    });
  return { current, password: plain.data };
}

/**
 * A person changes their own password. The current password is asked every time, even right after
 * signing in: it is what shows that it is them and not whoever found their session open. It is checked as
 * at sign-in: past the per-address limit (shared with the login form) and the lockout, and a wrong one
 * counts toward the lockout. A directory person's password is the directory's and is changed there.
 *
 * Then as with a reset: the lockout is lifted, and whoever knew the old password may hold a session or a
 * refresh token made with it, so every session, grant, refresh token and reset link of the person ends and
 * the nodes close their chat sockets (endAccessOf). That includes the session the change was made in;
 * the caller ends it in the browser too. Every outcome is audited as `password.change`.
 */
export async function changeOwnPassword(
  ctx: GatewayContext,
  policy: LoginPolicy,
  user: User,
  input: PasswordChange,
): Promise<User> {
  const person = asPerson(ctx, user);
  const fail = async (error: unknown, reason: string) => {
    if (!(error instanceof AppError)) return error;
    await audit(person, { action: 'password.change', target: user.username, outcome: 'failure', details: { reason } });
    return error;
  };
  let change: { current: string; password: string };
  try {
    await assertPasswordIsLocal(person, user);
    change = readChange(input);
    await refuseWeakPassword(person, change.password, user);
  } catch (error) {
    throw await fail(error, error instanceof ValidationError ? 'invalid_input' : 'directory_password');
  }
  const byIp = await policy.ipLimiter.hit(addressKey(ctx));
  if (!byIp.allowed) throw await fail(new NetworkRateLimitedError(byIp.retryAfterSeconds), 'ip_rate_limited');
  if (user.lockedUntil && user.lockedUntil > new Date())
    throw await fail(AccountLockedError.until(user.lockedUntil), 'locked');
  if (!(await verifyPassword(user.passwordHash, change.current))) {
    const locked = await countFailure(person, user, policy);
    throw await fail(
      locked ? new AccountLockedError(policy.lockoutMinutes * 60) : new WrongCurrentPasswordError(),
      'wrong_password',
    );
  }
  await policy.ipLimiter.release(addressKey(ctx));
  // Checked only now, so that it tells nothing about a current password that was not right.
  if (change.password === change.current)
    throw await fail(
      new ValidationError('The new password is the same as your current one: choose a different one.', {
        password: 'same as the current one',
      }),
      'same_password',
    );
  const passwordHash = await hashPassword(change.password);
  return inTransaction(person, async (ctx) => {
    const fresh = (await ctx.models.User.findByPk(user.id, { transaction: ctx.tx })) ?? user;
    const { artefacts } = await replacePassword(ctx, fresh, passwordHash);
    await audit(ctx, { action: 'password.change', target: fresh.username, details: { endedArtefacts: artefacts } });
    return fresh;
  });
}
