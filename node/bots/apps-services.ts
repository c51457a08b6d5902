import type { Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import { defineWebhookModel, type Webhook } from '../webhooks/models.ts';
import { createWebhookNames, type WebhookNames } from '../webhooks/webhook-names.ts';
import { createAppBotNames, type AppBotNames } from './app-bot-names.ts';
import { createAppDirectory, type AppDirectory } from './app-directory.ts';
import { createBotReach, type BotReach } from './bot-reach.ts';
import { createGatewayLookup } from './gateway-lookup.ts';

/** Posts one incoming webhook may make per minute (all processes of the domain count together). */
export const WEBHOOK_POSTS_PER_MINUTE = 30;

/** What bots, cards and webhooks need on a node. */
export type AppsServices = {
  directory: AppDirectory;
  /** The names of the apps whose bots this node may host, one list kept for member views (app-bot-names.ts). */
  botNames: AppBotNames;
  /** Whom each app is for, which its bot may write to on its own (the gateway's word, cached). */
  reach: BotReach;
  Webhook: typeof Webhook;
  /** Whose names a new webhook's name would pass for (people's, apps'), asked of the gateway. */
  webhookNames: WebhookNames;
  webhookLimiter: RateLimiter;
  /** Counts each bot's posts and card updates (BOT_WRITES_PER_MINUTE), all processes of the domain together. */
  botWriteLimiter: RateLimiter;
  /** The node's public URL, which webhook URLs start with. */
  publicUrl: string;
};

export function createAppsServices(options: {
  sequelize: Sequelize;
  gatewayIssuer: string;
  domain: string;
  publicUrl: string;
  signingKey: () => Promise<PrivateKeyJwk>;
  ttlMs: number;
  /** Posts and card updates one bot may make per minute. */
  botWritesPerMinute: number;
  logger: Logger;
  /** The clock the gateway's answers about whom an app is for age by. */
  now?: () => number;
}): AppsServices {
  const gateway = { gatewayIssuer: options.gatewayIssuer, origin: options.domain, signingKey: options.signingKey };
  const lookUp = createGatewayLookup({ ...gateway, logger: options.logger });
  return {
    directory: createAppDirectory({ ...gateway, ttlMs: options.ttlMs, logger: options.logger }),
    botNames: createAppBotNames(lookUp, options.ttlMs, options.now),
    reach: createBotReach({ ...gateway, ttlMs: options.ttlMs, logger: options.logger, now: options.now }),
    Webhook: defineWebhookModel(options.sequelize),
    webhookNames: createWebhookNames(
      { domain: options.domain, gatewayIssuer: options.gatewayIssuer, signingKey: options.signingKey },
      lookUp,
    ),
    webhookLimiter: createDatabaseRateLimiter({
      sequelize: options.sequelize,
      name: 'webhook',
      limit: WEBHOOK_POSTS_PER_MINUTE,
      windowSeconds: 60,
    }),
    botWriteLimiter: createDatabaseRateLimiter({
      sequelize: options.sequelize,
      name: 'bot-write',
      limit: options.botWritesPerMinute,
      windowSeconds: 60,
      now: options.now,
    }),
    publicUrl: options.publicUrl,
  };
}
