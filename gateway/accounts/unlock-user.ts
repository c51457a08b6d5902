import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from './find-user.ts';
import { saveUser } from './save-bookkeeping.ts';

/** Lifts a lockout without touching the password, for someone who simply mistyped too often. */
export async function unlockUser(ctx: GatewayContext, idOrUsername: string): Promise<User> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const wasLockedUntil = user.lockedUntil?.toISOString() ?? null;
    user.failedLogins = 0;
    user.lockedUntil = null;
    await saveUser(user, ctx.tx);
    await audit(ctx, { action: 'user.unlock', target: user.username, details: { wasLockedUntil } });
    return user;
  });
}
