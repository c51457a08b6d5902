import { RateLimitedError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { BotIdentity } from './require-bot.ts';

/**
 * Counts one write of a bot (a post, a card update, an edit or a recall) against its allowance
 * (BOT_WRITES_PER_MINUTE, every process of the domain counting together), before its body is checked: a
 * refused write is 429 `rate_limited` with Retry-After, and nothing is looked up, opened or stored for it.
 */
export async function paceBotWrite(ctx: NodeContext, bot: BotIdentity): Promise<void> {
  const pace = await ctx.apps.botWriteLimiter.hit(bot.address);
  if (pace.allowed) return;
  throw new RateLimitedError(
    pace.retryAfterSeconds,
    `This bot may post, update cards, edit or recall ${ctx.config.botWritesPerMinute} times a minute; try again in ${pace.retryAfterSeconds} s`,
  );
}
