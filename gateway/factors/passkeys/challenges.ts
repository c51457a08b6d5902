import { Op } from 'sequelize';
import type { GatewayContext } from '../../context.ts';
import type { ChallengePurpose } from '../../models/passkeys.ts';
import { PasskeyChallengeError } from './errors.ts';
import type { PasskeyDeps } from './relying-party.ts';
import type { Binding } from '../binding.ts';

/**
 * Keeps a ceremony's challenge in the database under what it is bound to (an interaction, or a portal
 * session) and its purpose: a new one replaces the last, so a binding has at most one pending per purpose.
 */
export async function keepChallenge(
  ctx: GatewayContext,
  deps: PasskeyDeps,
  binding: Binding,
  purpose: ChallengePurpose,
  challenge: string,
  userId: string | null,
): Promise<void> {
  const now = new Date();
  await ctx.models.PasskeyChallenge.destroy({ where: { expiresAt: { [Op.lt]: now } }, transaction: ctx.tx });
  await ctx.models.PasskeyChallenge.upsert(
    { binding, purpose, challenge, userId, expiresAt: new Date(now.getTime() + deps.challengeTtlSeconds * 1000) },
    { transaction: ctx.tx },
  );
}

/**
 * Takes the pending challenge once: a conditional delete decides, so a replay or two simultaneous
 * answers find nothing the second time. An expired challenge is taken and refused alike.
 */
export async function takeChallenge(
  ctx: GatewayContext,
  binding: Binding,
  purpose: ChallengePurpose,
): Promise<{ challenge: string; userId: string | null }> {
  const row = await ctx.models.PasskeyChallenge.findOne({ where: { binding, purpose }, transaction: ctx.tx });
  if (!row) throw new PasskeyChallengeError();
  const taken = await ctx.models.PasskeyChallenge.destroy({
    where: { binding, purpose, challenge: row.challenge },
    transaction: ctx.tx,
  });
  if (taken !== 1 || row.expiresAt.getTime() <= Date.now()) throw new PasskeyChallengeError();
  return { challenge: row.challenge, userId: row.userId };
}
