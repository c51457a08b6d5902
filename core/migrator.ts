import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Umzug, SequelizeStorage } from 'umzug';
import type { QueryInterface, Sequelize } from 'sequelize';
import { MigrationsPendingError } from './errors.ts';

export type MigrationContext = { queryInterface: QueryInterface; sequelize: Sequelize };
export type Migration = (params: { context: MigrationContext }) => Promise<void>;

const migrationsRoot = fileURLToPath(new URL('../migrations/', import.meta.url));

/** One migrator per database kind (`gateway`, `node`); each keeps its own ledger table. */
export function createMigrator(sequelize: Sequelize, kind: 'gateway' | 'node') {
  return new Umzug<MigrationContext>({
    // Listed and sorted here rather than globbed: the order of a directory listing is not guaranteed.
    migrations: readdirSync(join(migrationsRoot, kind))
      .filter((file) => file.endsWith('.ts'))
      .sort()
      .map((file) => {
        const path = join(migrationsRoot, kind, file);
        return {
          name: file,
          up: async (params: { context: MigrationContext }) => (await import(path)).up(params),
          down: async (params: { context: MigrationContext }) => (await import(path)).down(params),
        };
      }),
    context: { queryInterface: sequelize.getQueryInterface(), sequelize },
    storage: new SequelizeStorage({ sequelize, tableName: `atrium_${kind}_migrations` }),
    logger: undefined,
  });
}

export async function migrate(sequelize: Sequelize, kind: 'gateway' | 'node'): Promise<string[]> {
  const applied = await createMigrator(sequelize, kind).up();
  return applied.map((m) => m.name);
}

/** A database to check: the gateway's, or one domain node's (named by its domain in the message). */
export type MigratedDatabase = { kind: 'gateway' } | { kind: 'node'; domain: string };

/**
 * Refuses a database that is behind the code, naming the command that brings it up to date. Units never
 * migrate by themselves, so a schema change is always the operator's step.
 */
export async function assertMigrated(sequelize: Sequelize, database: MigratedDatabase): Promise<void> {
  const pending = (await createMigrator(sequelize, database.kind).pending()).map((m) => m.name);
  if (pending.length === 0) return;
  if (database.kind === 'gateway') throw new MigrationsPendingError('gateway', pending, 'atrium migrate');
  throw new MigrationsPendingError(`${database.domain} node`, pending, `atrium migrate --node ${database.domain}`);
}
