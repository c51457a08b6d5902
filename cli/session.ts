import type { Sequelize } from 'sequelize';
import { bindSecretKey } from '../core/bound-secret.ts';
import { loadEnv } from '../core/config.ts';
import { openDatabase, type DatabaseOptions } from '../core/database.ts';
import { assertMigrated } from '../core/migrator.ts';
import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.ts';
import { operator, type GatewayContext } from '../gateway/context.ts';
import { defineGatewayModels, type GatewayModels } from '../gateway/models/index.ts';
import { placeOf } from '../gateway/place.ts';
import { RuntimeFailure, type Io } from './command.ts';
import { commandNotices, type CommandNotices } from './notices.ts';

export type Session = { config: GatewayConfig; sequelize: Sequelize; models: GatewayModels; ctx: GatewayContext };

/** The CLI is a composition root: it alone turns the environment into configuration. */
export function readConfig(io: Io): GatewayConfig {
  return loadGatewayConfig(loadEnv(io.env));
}

/** Where the data lives, for messages: the SQLite file, or the MariaDB URL without its password. */
export function describeDatabase(config: { database: DatabaseOptions }): string {
  if (!config.database.url) return config.database.sqliteFile;
  const url = new URL(config.database.url);
  url.password = '';
  return url.toString();
}

export async function openGatewayDatabase(config: GatewayConfig): Promise<Sequelize> {
  try {
    return await openDatabase(config.database);
  } catch (error) {
    throw new RuntimeFailure(
      'database_unavailable',
      `Cannot open the database ${describeDatabase(config)}: ${(error as Error).message}`,
    );
  }
}

/**
 * Opens the gateway database for one command, acting as the operator, and closes it afterwards.
 * Unless told otherwise, a database with pending migrations is refused with a clear message.
 */
export async function withSession<T>(
  io: Io,
  work: (session: Session) => Promise<T>,
  options: { migrated?: boolean; config?: GatewayConfig } = {},
): Promise<T> {
  const config = options.config ?? readConfig(io);
  const sequelize = await openGatewayDatabase(config);
  // OIDC clients' secrets are sealed under the gateway's secret, here as in the gateway (core/bound-secret.ts).
  bindSecretKey(sequelize, config.secretKey);
  let notices: CommandNotices | null = null;
  try {
    if (options.migrated !== false) await assertMigrated(sequelize, { kind: 'gateway' });
    const models = defineGatewayModels(sequelize);
    const ctx: GatewayContext = {
      sequelize,
      models,
      actor: operator('cli'),
      ip: null,
      appCalls: config.appCalls,
      place: placeOf(config, config.issuer ?? `http://localhost:${config.port}`),
    };
    notices = await commandNotices(config, io, () => ctx);
    ctx.notices = notices.notices;
    const done = await work({ config, sequelize, models, ctx });
    notices.sayLeft(io);
    return done;
  } finally {
    await notices?.notices.settle(10_000);
    await notices?.notices.stop(5_000);
    notices?.close();
    await sequelize.close();
  }
}
