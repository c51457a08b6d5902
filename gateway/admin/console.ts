import { Router, type Request } from 'express';
import type Provider from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import type { GatewayModels } from '../models/index.ts';

export type AdminDeps = {
  issuer: string;
  config: GatewayConfig;
  sequelize: Sequelize;
  models: GatewayModels;
  sealer: Sealer;
  csrf: Csrf;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
  provider: () => Provider;
};

/** The admin console (placeholder until the console lands). */
export async function adminConsole(_deps: AdminDeps): Promise<Router> {
  return Router();
}
