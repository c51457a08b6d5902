import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { LastFactorRequiredError, LastWayInError } from './errors.ts';
import { hasSecondFactor } from './passkeys/second-factor-choices.ts';
import { secondFactorRequired } from './policy.ts';
import { forgetReplacedRecoveryCodes } from './recovery-codes.ts';

/**
 * Holds the person's row until the transaction ends, so that two removals of their factors at once are
 * taken one after the other: each would otherwise still see the other factor, and both pass.
 */
export async function holdPerson(ctx: GatewayContext, user: User): Promise<void> {
  await ctx.models.User.findByPk(user.id, { transaction: ctx.tx, lock: true });
}

/**
 * After one of the person's second factors is removed, in the same transaction. When it was the last one,
 * the policy must not require one (the removal is refused, and rolled back: a person turns their own
 * second factor off only where that is allowed), and the recovery codes go with it, since they stood in
 * for it; so do the kept hashes of replaced sets, as a helpdesk reset drops them: with no second step
 * left, an old printout has nothing to be told apart from. Returns how many recovery codes were removed.
 */
export async function afterFactorRemoved(ctx: GatewayContext, user: User): Promise<number> {
  if (await hasSecondFactor(ctx, user.id)) return 0;
  if (await secondFactorRequired(ctx, user)) throw new LastFactorRequiredError();
  const removed = await ctx.models.RecoveryCode.destroy({ where: { userId: user.id }, transaction: ctx.tx });
  await forgetReplacedRecoveryCodes(ctx, user.id);
  return removed;
}

/**
 * After a passkey is removed, in the same transaction: someone without a password of their own or of a
 * directory signs in with a passkey alone, so their last one stays (the removal is refused and rolled
 * back), whatever the second-factor policy says.
 */
export async function keepAWayIn(ctx: GatewayContext, user: User): Promise<void> {
  const fresh = await ctx.models.User.findByPk(user.id, { transaction: ctx.tx });
  if (!fresh || fresh.passwordHash !== null) return;
  if ((await ctx.models.Passkey.count({ where: { userId: user.id }, transaction: ctx.tx })) > 0) return;
  if ((await ctx.models.DirectoryAccount.count({ where: { userId: user.id }, transaction: ctx.tx })) > 0) return;
  throw new LastWayInError();
}
