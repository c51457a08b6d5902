import { QueryTypes, type Sequelize } from 'sequelize';
import { mariadbStatements } from './mariadb-statements.ts';

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
   * never before. Each stands alone: a later one runs although an earlier one changed nothing.
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

/** The way this database's statements are sent. */
export function oidcStatementsFor(sequelize: Sequelize): OidcStatements {
  if (sequelize.getDialect() === 'mysql') return mariadbStatements(sequelize);
  return sequelizeStatements(sequelize);
}
