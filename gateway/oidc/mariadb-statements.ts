import type { Connection, ExecuteValues, QueryError, ResultSetHeader, RowDataPacket } from 'mysql2';
import type { Sequelize } from 'sequelize';
import { queryHooks, type OidcStatements, type Statement } from './statements.ts';

/** What this module uses of Sequelize's connection manager (mysql2 connections of the callback API). */
type Pool = {
  getConnection(options: { type: 'write' }): Promise<Connection>;
  releaseConnection(connection: Connection): void;
};

/**
 * The store's statements on MariaDB (and MySQL) as prepared statements, sent on a connection of
 * Sequelize's own pool. Sequelize's query path costs each statement more CPU than the round trip's
 * own work (a query object and its uuid, retries, replacements escaped into the text, dates through
 * moment), and the server parses every text statement anew; a prepared statement is parsed once per
 * connection (mysql2 keeps it) and its values go in binary. The pool stays Sequelize's: its limits, its
 * check of a connection before handing it out (one that failed is replaced), its close.
 *
 * Dates: mysql2 writes a bound Date in the connection's `timezone`, which Sequelize sets to its own
 * (UTC unless configured), and reads DATETIME back through Sequelize's type parser on that connection:
 * the instant, to the millisecond, that Sequelize's models write and read, whatever the process's own
 * zone. (Sequelize's replacements write a Date in the process's zone and drop its milliseconds.)
 *
 * Rows changed: an UPDATE or DELETE answers the rows it changed (Sequelize opens its connections
 * without FOUND_ROWS, so a row matched but left as it was counts 0); the upsert answers 1 for a row
 * inserted, 2 for one replaced and 0 for one rewritten as it was.
 *
 * Reads go to the pool that writes too: the store reads what a request wrote a moment before.
 */
export function mariadbStatements(sequelize: Sequelize): OidcStatements {
  const pool = sequelize.connectionManager as unknown as Pool;
  const send = hooked(sequelize);
  return {
    async select<T extends object>(statement: Statement) {
      const connection = await pool.getConnection({ type: 'write' });
      try {
        return (await send(connection, statement)) as T[];
      } finally {
        pool.releaseConnection(connection);
      }
    },
    async write(statements) {
      const connection = await pool.getConnection({ type: 'write' });
      try {
        const changed: number[] = [];
        for (const statement of statements) {
          changed.push(((await send(connection, statement)) as ResultSetHeader).affectedRows);
        }
        return changed;
      } finally {
        pool.releaseConnection(connection);
      }
    },
  };
}

type Send = (connection: Connection, statement: Statement) => Promise<unknown>;

/** Each statement passes Sequelize's query hooks when some are set (statements.ts, queryHooks). */
function hooked(sequelize: Sequelize): Send {
  return async (connection, statement) => {
    const hooks = queryHooks(sequelize);
    if (!hooks) return execute(connection, statement);
    await hooks.before(statement);
    try {
      return await execute(connection, statement);
    } finally {
      await hooks.after(statement);
    }
  };
}

function execute(connection: Connection, { sql, values }: Statement): Promise<RowDataPacket[] | ResultSetHeader> {
  return new Promise((resolve, reject) => {
    connection.execute<RowDataPacket[] | ResultSetHeader>(sql, values as ExecuteValues, (error, result) =>
      error ? reject(refused(error, sql)) : resolve(result),
    );
  });
}

/** The server's (or the connection's) error, naming the statement; its code stays for callers to test. */
function refused(error: QueryError, sql: string): Error {
  const statement = sql.replace(/\s+/g, ' ').slice(0, 80);
  return Object.assign(new Error(`the provider's store: ${error.message} (in ${statement})`, { cause: error }), {
    code: error.code,
  });
}
