import type { Sequelize } from 'sequelize';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import { RateLimitedError } from '../../core/errors.ts';
import { createKeyedTokenBuckets, type KeyedTokenBuckets, type RateLimiter } from '../../core/rate-limit.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import { LONGEST_WAITED_OUT_MS } from '../../protocol/frames.ts';
import type { PersonLimitsConfig } from '../config.ts';
import type { NodeContext } from '../context.ts';

/**
 * What one person (an address) may do on this node whichever way they ask: each socket's frame allowance
 * bounds one socket, not a person with many sockets or a script on the HTTP API. Messages are counted in
 * this process's memory, since a statement per message would slow every send; searches and creations in
 * the database, every process of the domain together (as uploads and bot posts are).
 */
export type PersonLimits = {
  /** Messages, edits, recalls and group changes, sockets and HTTP together (this process). */
  messages: KeyedTokenBuckets;
  searches: RateLimiter;
  directorySearches: RateLimiter;
  groupCreations: RateLimiter;
  webhookCreations: RateLimiter;
};

export function createPersonLimits(options: {
  sequelize: Sequelize;
  limits: PersonLimitsConfig;
  now: () => number;
}): PersonLimits {
  const { sequelize, limits, now } = options;
  const counted = (name: string, limit: number, windowSeconds: number) =>
    createDatabaseRateLimiter({ sequelize, name, limit, windowSeconds, now });
  return {
    messages: createKeyedTokenBuckets({ ratePerSecond: limits.messagesPerSecond, burst: limits.messageBurst, now }),
    searches: counted('search', limits.searchesPerMinute, 60),
    directorySearches: counted('directory-search', limits.directorySearchesPerMinute, 60),
    groupCreations: counted('group-create', limits.groupCreationsPerHour, 3600),
    webhookCreations: counted('webhook-create', limits.webhookCreationsPerHour, 3600),
  };
}

/**
 * Counts one entry the actor adds to a conversation (a message, an edit, a recall, a group change) against
 * their allowance, before anything is looked up: past it, `rate_limited` saying when the whole allowance is
 * back, or in LONGEST_WAITED_OUT_MS if that is sooner (a client waits that long and sends again; by then
 * that many seconds' worth is back), and nothing is done.
 */
export function paceWrite(ctx: NodeContext): void {
  const verdict = ctx.limits.messages.take(ctx.actor.address);
  if (verdict.allowed) return;
  const { messagesPerSecond, messageBurst } = ctx.config.personLimits;
  const seconds = Math.ceil(Math.min(verdict.retryAfterMs, LONGEST_WAITED_OUT_MS) / 1000);
  throw new RateLimitedError(
    seconds,
    `You are sending too fast: at most ${messagesPerSecond} message${messagesPerSecond === 1 ? '' : 's'} a second (${messageBurst} at once), from all your devices together. Try again in ${seconds} s.`,
  );
}

/** Counts a search against the actor's allowance (SEARCHES_PER_MINUTE), before it runs. */
export async function paceSearch(ctx: NodeContext): Promise<void> {
  const pace = await ctx.limits.searches.hit(ctx.actor.address);
  if (pace.allowed) return;
  throw new RateLimitedError(
    pace.retryAfterSeconds,
    `At most ${ctx.config.personLimits.searchesPerMinute} searches a minute. Try again in ${pace.retryAfterSeconds} s.`,
  );
}

/** Counts a people search by name against the person's allowance (DIRECTORY_SEARCHES_PER_MINUTE). */
export async function paceDirectorySearch(
  limits: Pick<PersonLimits, 'directorySearches'>,
  perMinute: number,
  address: string,
): Promise<void> {
  const pace = await limits.directorySearches.hit(address);
  if (pace.allowed) return;
  throw new RateLimitedError(
    pace.retryAfterSeconds,
    `At most ${perMinute} people searches a minute. Try again in ${pace.retryAfterSeconds} s.`,
  );
}

/** Counts a group about to be created against its creator's allowance (GROUP_CREATIONS_PER_HOUR). */
export async function countGroupCreation(ctx: NodeContext): Promise<void> {
  const pace = await ctx.limits.groupCreations.hit(ctx.actor.address);
  if (pace.allowed) return;
  throw new RateLimitedError(
    pace.retryAfterSeconds,
    `At most ${ctx.config.personLimits.groupCreationsPerHour} new groups an hour. ${tryAgainIn(pace.retryAfterSeconds)}`,
  );
}

/** Counts a webhook about to be created against its creator's allowance (WEBHOOK_CREATIONS_PER_HOUR). */
export async function countWebhookCreation(ctx: NodeContext): Promise<void> {
  const pace = await ctx.limits.webhookCreations.hit(ctx.actor.address);
  if (pace.allowed) return;
  throw new RateLimitedError(
    pace.retryAfterSeconds,
    `At most ${ctx.config.personLimits.webhookCreationsPerHour} new webhooks an hour. ${tryAgainIn(pace.retryAfterSeconds)}`,
  );
}
