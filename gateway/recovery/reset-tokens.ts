import { createHash, randomBytes } from 'node:crypto';
import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { PasswordReset } from '../models/index.ts';
import { type RefusedLinkReason, type RefusedLinkStory, storyOfReason } from './errors.ts';

/** 256 random bits, URL-safe: unguessable, so the link alone proves the mail was read. */
export function newResetToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, tokenHash: hashResetToken(token) };
}

/** What the database keeps of a token. A fast hash is enough: the token has full entropy, nothing to guess. */
export function hashResetToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The shape `newResetToken` makes; anything else is refused before the database is asked. */
export const RESET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Between a link's use (its `usedAt`) and what that use wrote last in its transaction (complete-reset.ts: the
 * audit line, the person's other links cancelled): far more than one transaction takes, far less than the
 * time between two uses of links of one person.
 */
const ONE_USE_MS = 60_000;

/**
 * What became of a link refused for `reason`, for its page (errors.ts): read only, the refusal is audited
 * already. A link used set a first password when its use was audited so (complete-reset.ts, `firstPassword`);
 * a link cancelled by the use of a newer link of the same person (asked for with "Forgot your password?")
 * was cancelled in that use's transaction.
 */
export async function whatBecameOf(
  ctx: GatewayContext,
  token: string,
  reason: RefusedLinkReason,
): Promise<RefusedLinkStory> {
  if (reason !== 'used' && reason !== 'cancelled') return storyOfReason(reason);
  const reset = RESET_TOKEN_PATTERN.test(token) ? await ctx.models.PasswordReset.findByPk(hashResetToken(token)) : null;
  if (reason === 'used') return reset?.usedAt && (await setFirstPassword(ctx, reset)) ? 'used_first_password' : 'used';
  return reset?.cancelledAt && (await replacedByNewer(ctx, reset)) ? 'replaced' : 'cancelled';
}

async function setFirstPassword(ctx: GatewayContext, reset: PasswordReset): Promise<boolean> {
  const user = await ctx.models.User.findByPk(reset.userId);
  const usedAt = reset.usedAt?.getTime();
  if (!user || usedAt === undefined) return false;
  const uses = await ctx.models.AuditEvent.findAll({
    where: {
      action: 'password_reset.use',
      target: user.username,
      at: { [Op.between]: [new Date(usedAt), new Date(usedAt + ONE_USE_MS)] },
    },
  });
  return uses.some((use) => {
    try {
      return (JSON.parse(use.details ?? '{}') as { firstPassword?: unknown }).firstPassword === true;
    } catch {
      return false;
    }
  });
}

async function replacedByNewer(ctx: GatewayContext, reset: PasswordReset): Promise<boolean> {
  const cancelledAt = reset.cancelledAt?.getTime();
  if (cancelledAt === undefined) return false;
  const newer = await ctx.models.PasswordReset.count({
    where: {
      userId: reset.userId,
      createdAt: { [Op.gt]: reset.createdAt },
      usedAt: { [Op.between]: [new Date(cancelledAt - ONE_USE_MS), new Date(cancelledAt)] },
    },
  });
  return newer > 0;
}
