import type { Connection, ExecuteValues, QueryError, ResultSetHeader, RowDataPacket } from 'mysql2';
import type { Sequelize } from 'sequelize';
import { allowsBlocks } from '../../core/statement-block.ts';
import { writesInOneBlock } from './mariadb-block.ts';
import { textLiterals } from './statement-text.ts';
import { withQueryHooks } from '../../core/query-hooks.ts';
import type { OidcStatements, Statement } from './statements.ts';

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
  const literal = textLiterals(sequelize);
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
      const block = statements.length > 1 && (await allowsBlocks(sequelize).catch(() => false));
      const text = block ? writesInOneBlock(statements, literal) : undefined;
      const connection = await pool.getConnection({ type: 'write' });
      try {
        if (text !== undefined) return await sendBlock(sequelize, connection, text, statements.length);
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

/**
 * A request's writes in one round trip (writesInOneBlock), through the query hooks as one statement.
 * Each still commits on its own, as one by one: a failing one ends the block with its error, what the
 * ones before it wrote stays, and the ones after it do not run.
 */
async function sendBlock(sequelize: Sequelize, connection: Connection, sql: string, count: number): Promise<number[]> {
  const result = await withQueryHooks(
    sequelize,
    { sql, values: [] },
    () =>
      new Promise<unknown>((resolve, reject) => {
        connection.query(sql, (error, answer) => (error ? reject(refused(error, sql)) : resolve(answer)));
      }),
  );
  // The block's one result set (its last SELECT), then the status of the block itself.
  const rows = Array.isArray(result) ? result[0] : undefined;
  const row = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined) : undefined;
  const changed = Array.from({ length: count }, (_, i) => Number(row?.[`c${i}`]));
  if (changed.some((n) => !Number.isInteger(n))) throw new Error("the provider's store: a block's rows changed unread");
  return changed;
}

type Send = (connection: Connection, statement: Statement) => Promise<unknown>;

/** Each statement passes Sequelize's query hooks when some are set (core/query-hooks.ts). */
function hooked(sequelize: Sequelize): Send {
  return (connection, statement) => withQueryHooks(sequelize, statement, () => execute(connection, statement));
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
