import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Umzug, SequelizeStorage } from 'umzug';
import type { QueryInterface, Sequelize } from 'sequelize';
import { DatabaseNewerError, MigrationsPendingError } from './errors.ts';

export type MigrationContext = { queryInterface: QueryInterface; sequelize: Sequelize };
export type Migration = (params: { context: MigrationContext }) => Promise<void>;

const migrationsRoot = fileURLToPath(new URL('../migrations/', import.meta.url));

/** This code's migrations of a kind, in order: listed and sorted rather than globbed (a listing's order is not guaranteed). */
function migrationNames(kind: 'gateway' | 'node'): string[] {
  return readdirSync(join(migrationsRoot, kind))
    .filter((file) => file.endsWith('.ts'))
    .sort();
}

/** The table that lists the migrations applied to a database. */
const ledgerOf = (sequelize: Sequelize, kind: 'gateway' | 'node') =>
  new SequelizeStorage({ sequelize, tableName: `atrium_${kind}_migrations` });

/** One migrator per database kind (`gateway`, `node`); each keeps its own ledger table. */
export function createMigrator(sequelize: Sequelize, kind: 'gateway' | 'node') {
  return new Umzug<MigrationContext>({
    migrations: migrationNames(kind).map((file) => {
      const path = join(migrationsRoot, kind, file);
      return {
        name: file,
        up: async (params: { context: MigrationContext }) => (await import(path)).up(params),
        down: async (params: { context: MigrationContext }) => (await import(path)).down(params),
      };
    }),
    context: { queryInterface: sequelize.getQueryInterface(), sequelize },
    storage: ledgerOf(sequelize, kind),
    logger: undefined,
  });
}

/** Applies what is pending; nothing on a database a newer Atrium migrated (DatabaseNewerError). */
export async function migrate(sequelize: Sequelize, kind: 'gateway' | 'node', domain?: string): Promise<string[]> {
  await refuseNewer(sequelize, kind === 'gateway' ? { kind } : { kind, domain: domain ?? 'this' });
  const applied = await createMigrator(sequelize, kind).up();
  return applied.map((m) => m.name);
}

/**
 * Refuses a database with migrations this code does not have: a newer Atrium migrated it, and this
 * older code would read and write it wrongly (apps whose secrets it cannot read, people it leaves out of
 * search), so it must not start on it.
 */
async function refuseNewer(sequelize: Sequelize, database: MigratedDatabase): Promise<void> {
  const known = new Set(migrationNames(database.kind));
  // The ledger itself: the migrator lists only the applied migrations it knows.
  const unknown = (await ledgerOf(sequelize, database.kind).executed()).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new DatabaseNewerError(describe(database), unknown);
}

const describe = (database: MigratedDatabase) => (database.kind === 'gateway' ? 'gateway' : `${database.domain} node`);

/** A database to check: the gateway's, or one domain node's (named by its domain in the message). */
export type MigratedDatabase = { kind: 'gateway' } | { kind: 'node'; domain: string };

/**
 * Refuses a database that is behind the code, naming the command that brings it up to date. Units never
 * migrate by themselves, so a schema change is always the operator's step.
 */
export async function assertMigrated(sequelize: Sequelize, database: MigratedDatabase): Promise<void> {
  await refuseNewer(sequelize, database);
  const pending = (await createMigrator(sequelize, database.kind).pending()).map((m) => m.name);
  if (pending.length === 0) return;
  if (database.kind === 'gateway') throw new MigrationsPendingError('gateway', pending, 'atrium migrate');
  throw new MigrationsPendingError(`${database.domain} node`, pending, `atrium migrate --node ${database.domain}`);
}
