import type { Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import { defineWebhookModel, type Webhook } from '../webhooks/models.ts';
import { createAppDirectory, type AppDirectory } from './app-directory.ts';

/** Posts one incoming webhook may make per minute (all processes of the domain count together). */
export const WEBHOOK_POSTS_PER_MINUTE = 30;

/** What bots, cards and webhooks need on a node. */
export type AppsServices = {
  directory: AppDirectory;
  Webhook: typeof Webhook;
  webhookLimiter: RateLimiter;
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
  logger: Logger;
}): AppsServices {
  return {
    directory: createAppDirectory({
      gatewayIssuer: options.gatewayIssuer,
      origin: options.domain,
      signingKey: options.signingKey,
      ttlMs: options.ttlMs,
      logger: options.logger,
    }),
    Webhook: defineWebhookModel(options.sequelize),
    webhookLimiter: createDatabaseRateLimiter({
      sequelize: options.sequelize,
      name: 'webhook',
      limit: WEBHOOK_POSTS_PER_MINUTE,
      windowSeconds: 60,
    }),
    publicUrl: options.publicUrl,
  };
}
