import type { Sequelize } from 'sequelize';
import { loadEnv } from '../core/config.ts';
import { openDatabase } from '../core/database.ts';
import { ConfigError } from '../core/errors.ts';
import { assertMigrated } from '../core/migrator.ts';
import { loadNodeConfig, type NodeConfig } from '../node/config.ts';
import { RuntimeFailure, type Io } from './command.ts';
import { describeDatabase } from './session.ts';

/**
 * A domain node's configuration exactly as `atrium node --domain NAME` would read it, so migrations and
 * key commands reach the same database and the same sealing secret (NODE_SECRET_KEY, or the development
 * secret file in ATRIUM_DATA_DIR).
 */
export function readNodeConfig(io: Io, domain: string, option = '--domain'): NodeConfig {
  try {
    return loadNodeConfig({ ...loadEnv(io.env), NODE_DOMAIN: domain });
  } catch (error) {
    // The domain came from the command line, not from the environment: name the option.
    if (error instanceof ConfigError)
      throw new ConfigError(error.problems.map((p) => p.replace(/^NODE_DOMAIN:/, `${option}:`)));
    throw error;
  }
}

export async function openNodeDatabase(config: NodeConfig): Promise<Sequelize> {
  try {
    return await openDatabase(config.database);
  } catch (error) {
    throw new RuntimeFailure(
      'database_unavailable',
      `Cannot open the ${config.domain} node database ${describeDatabase(config)}: ${(error as Error).message}`,
    );
  }
}

/** Opens a node's database for one command and closes it afterwards; pending migrations are refused unless told otherwise. */
export async function withNodeDatabase<T>(
  config: NodeConfig,
  work: (sequelize: Sequelize) => Promise<T>,
  options: { migrated?: boolean } = {},
): Promise<T> {
  const sequelize = await openNodeDatabase(config);
  try {
    if (options.migrated !== false) await assertMigrated(sequelize, { kind: 'node', domain: config.domain });
    return await work(sequelize);
  } finally {
    await sequelize.close();
  }
}
