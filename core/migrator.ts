import { fileURLToPath } from 'node:url';
import { Umzug, SequelizeStorage } from 'umzug';
import type { QueryInterface, Sequelize } from 'sequelize';

export type MigrationContext = { queryInterface: QueryInterface; sequelize: Sequelize };
export type Migration = (params: { context: MigrationContext }) => Promise<void>;

const migrationsRoot = fileURLToPath(new URL('../migrations/', import.meta.url));

/** One migrator per database kind (`gateway`, `node`); each keeps its own ledger table. */
export function createMigrator(sequelize: Sequelize, kind: 'gateway' | 'node') {
  return new Umzug<MigrationContext>({
    migrations: {
      glob: [`${kind}/*.ts`, { cwd: migrationsRoot }],
      resolve: ({ name, path }) => ({
        name,
        up: async (params) => (await import(path!)).up(params),
        down: async (params) => (await import(path!)).down(params),
      }),
    },
    context: { queryInterface: sequelize.getQueryInterface(), sequelize },
    storage: new SequelizeStorage({ sequelize, tableName: `atrium_${kind}_migrations` }),
    logger: undefined,
  });
}

export async function migrate(sequelize: Sequelize, kind: 'gateway' | 'node'): Promise<string[]> {
  const applied = await createMigrator(sequelize, kind).up();
  return applied.map((m) => m.name);
}
