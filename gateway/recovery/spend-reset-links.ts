import type { GatewayContext } from '../context.ts';

/**
 * Cancels every reset link of the person not used yet, in the caller's transaction. Whoever can read the
 * mailbox a link went to may have asked for it: once the password was set another way, the account was
 * disabled or signed out everywhere, or its mail moved to a new address, no such link may set a password.
 * Cancelled, not used, so that whoever opens one is told the link was cancelled rather than used.
 */
export async function spendOpenResetLinks(ctx: GatewayContext, userId: string, now = new Date()): Promise<number> {
  const [spent] = await ctx.models.PasswordReset.update(
    { cancelledAt: now },
    { where: { userId, usedAt: null, cancelledAt: null }, transaction: ctx.tx },
  );
  return spent;
}
