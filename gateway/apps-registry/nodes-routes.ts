import { Router, type Request } from 'express';
import type { Sequelize } from 'sequelize';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import type { Logger } from '../../core/logger.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { nodeUrls } from '../domains/node-urls.ts';
import type { GatewayModels } from '../models/index.ts';
import { appCredentials } from '../oidc/app-credentials.ts';
import { withMemo } from '../request-memo.ts';
import { sharedReadsOf } from '../shared-reads.ts';
import { audiencesFor } from './app-access.ts';

export type NodesRouteDeps = {
  config: GatewayConfig;
  sequelize: Sequelize;
  models: GatewayModels;
  logger: Logger;
  context(req: Request | null): GatewayContext;
};

export type PresentedNode = { domain: string; url: string };

/**
 * The chat nodes an app's bot may be given tokens for, with the URL to name as `resource` (and to give
 * the SDK): the same rule as the client-credentials token (app-access.ts), so an app owned by a unit
 * learns only the nodes serving that unit's subtree, a campus-wide app every campus node.
 */
export async function nodesForApp(ctx: GatewayContext, clientId: string): Promise<PresentedNode[]> {
  const [reachable, urls] = await Promise.all([audiencesFor(ctx, clientId, null), nodeUrls(ctx)]);
  return [...urls].filter(([domain]) => !reachable || reachable.has(domain)).map(([domain, url]) => ({ domain, url }));
}

/** `GET /api/v1/nodes`, for apps, authenticated with the app's client credentials (HTTP Basic). */
export function nodesRoutes(deps: NodesRouteDeps): Router {
  const router = Router();
  const authenticate = appCredentials({
    models: deps.models,
    logger: deps.logger,
    // Counted with the same allowance as sign-ins from one address, in the database for every process.
    limiter: createDatabaseRateLimiter({
      sequelize: deps.sequelize,
      name: 'app-credentials-ip',
      limit: deps.config.login.ipLimit,
      windowSeconds: deps.config.login.ipWindowSeconds,
    }),
  });
  router.get('/api/v1/nodes', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const ctx = withMemo(deps.context(req), sharedReadsOf(deps.sequelize));
    try {
      const clientId = await authenticate(ctx, req);
      res.json({ nodes: await nodesForApp(ctx, clientId) });
    } catch (error) {
      if ((error as { status?: number }).status === 401) res.set('WWW-Authenticate', 'Basic realm="atrium"');
      throw error;
    }
  });
  return router;
}
