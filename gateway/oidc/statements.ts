import { QueryTypes, type Sequelize } from 'sequelize';
export { queryHooks, type QueryHooks } from '../../core/query-hooks.ts';
import { mariadbStatements } from './mariadb-statements.ts';
import { sqliteStatements } from './sqlite-statements.ts';

/** One statement with its `?` placeholders' values (dates as Date). */
export type Statement = { sql: string; values: unknown[] };

/**
 * How the provider's store (adapter.ts, read-ahead.ts) reaches its table: every token request runs
 * several statements, so the way they are sent is one place, chosen per database.
 */
export type OidcStatements = {
  select<T extends object>(statement: Statement): Promise<T[]>;
  /**
   * Runs the writes in order and answers how many rows each changed; settled once they are committed,
   * never before. A later one runs although an earlier one changed nothing, but not after one that
   * failed: the first failure ends the list and rejects.
   */
  write(statements: Statement[]): Promise<number[]>;
};

/** The statements through Sequelize's own query path (values bound as replacements). */
export function sequelizeStatements(sequelize: Sequelize): OidcStatements {
  return {
    select<T extends object>({ sql, values }: Statement) {
      return sequelize.query<T>(sql, { replacements: values, type: QueryTypes.SELECT });
    },
    async write(statements) {
      const changed: number[] = [];
      for (const { sql, values } of statements) changed.push(await changedRows(sequelize, sql, values));
      return changed;
    },
  };
}

async function changedRows(sequelize: Sequelize, sql: string, values: unknown[]): Promise<number> {
  if (sql.startsWith('INSERT')) {
    await sequelize.query(sql, { replacements: values, type: QueryTypes.INSERT });
    return 1;
  }
  const changed = await sequelize.query(sql, { replacements: values, type: QueryTypes.BULKUPDATE });
  return Number(changed);
}

/**
 * The way this database's statements are sent: one per database handle, shared by every store over it
 * (a provider rebuilt with new keys, say), since on SQLite one group commit at a time may hold its
 * connection.
 */
export function oidcStatementsFor(sequelize: Sequelize): OidcStatements {
  let statements = perDatabase.get(sequelize);
  if (!statements) {
    statements = statementsOf(sequelize);
    perDatabase.set(sequelize, statements);
  }
  return statements;
}

const perDatabase = new WeakMap<Sequelize, OidcStatements>();

function statementsOf(sequelize: Sequelize): OidcStatements {
  if (sequelize.getDialect() === 'mysql') return mariadbStatements(sequelize);
  // A database in memory is one connection, which the writes cannot have to themselves.
  const { storage } = (sequelize as unknown as { options: { storage?: string } }).options;
  if (storage !== ':memory:') return sqliteStatements(sequelize);
  return sequelizeStatements(sequelize);
}
