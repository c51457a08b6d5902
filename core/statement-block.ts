import type { Connection } from 'mysql2';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import { withQueryHooks } from './query-hooks.ts';

const blocksAllowed = new WeakMap<Sequelize, Promise<boolean>>();

/** Whether the database takes an anonymous compound statement (`BEGIN NOT ATOMIC … END`): MariaDB does, MySQL not. */
export function allowsBlocks(sequelize: Sequelize): Promise<boolean> {
  let known = blocksAllowed.get(sequelize);
  if (!known) {
    known =
      sequelize.getDialect() === 'sqlite'
        ? Promise.resolve(false)
        : sequelize.databaseVersion().then((version) => /mariadb/i.test(version));
    // A failed check is asked again next time rather than remembered.
    known.catch(() => blocksAllowed.delete(sequelize));
    blocksAllowed.set(sequelize, known);
  }
  return known;
}

/**
 * Statements longer than this in all go one by one. A block saves round trips, which is what a small flush
 * waits for; a big one is mostly the server's work, and as one block of thousands of rows it went slower
 * (the group committer alone, back to back: ~35,000 against ~39,000 entries/s at 2,000 a flush; equal at
 * 100; 1 to 4 entries a flush took 0.85 ms against 1.0 ms).
 */
export const BLOCK_MAX_CHARS = 16_384;

/**
 * Runs hand-written statements in order in a transaction, stopping at the first that fails. On MariaDB
 * several short ones go as one anonymous compound statement (`BEGIN NOT ATOMIC … END`), in one round trip
 * to the server instead of one each, each a wake-up of MariaDB on the same cores (bench:node's closed
 * loop: a small flush's writes, where it cannot go in one statement whole, node/messages/flush-in-one-trip.ts). A failing statement ends the block there,
 * as it ends the list, with the same error; what the ones before it wrote stays in the transaction, as it
 * would statement by statement. Each statement must be complete, without a closing semicolon.
 */
export async function runStatements(sequelize: Sequelize, tx: Transaction, statements: string[]): Promise<void> {
  let chars = 0;
  for (const sql of statements) chars += sql.length;
  // Unknown (the server's version could not be read just now): one by one, which works on every database.
  if (statements.length > 1 && chars <= BLOCK_MAX_CHARS && (await allowsBlocks(sequelize).catch(() => false))) {
    await send(sequelize, tx, `BEGIN NOT ATOMIC ${statements.join('; ')}; END`, QueryTypes.RAW);
    return;
  }
  for (const sql of statements) await send(sequelize, tx, sql, QueryTypes.RAW);
}

/** The rows a hand-written SELECT reads in a transaction (see send). */
export async function selectRows<T>(sequelize: Sequelize, tx: Transaction, sql: string): Promise<T[]> {
  return (await send(sequelize, tx, sql, QueryTypes.SELECT)) as T[];
}

/** What a statement sent on a transaction's own connection uses of Sequelize's internals. */
type Internals = {
  dialect: {
    Query: new (connection: unknown, sequelize: Sequelize, options: object) => { formatError(error: unknown): Error };
  };
};
type Sent = { connection?: Connection; finished?: string };

/**
 * Sends one hand-written statement on the transaction's connection (mysql2), around Sequelize's query
 * path: Sequelize lowercases a statement's whole text up to three times to tell its kind (`isCallQuery`,
 * `isInsertQuery`), and at a busy node's flushes of a thousand rows, a few hundred KB each, that was 4% of
 * its CPU and more garbage to collect (bench:node profile). The query hooks still run, and a failure is
 * Sequelize's own error (a unique key met is a UniqueConstraintError), as through it. SQLite: through it.
 */
function send(sequelize: Sequelize, tx: Transaction, sql: string, type: QueryTypes): Promise<unknown> {
  const { connection, finished } = tx as unknown as Sent;
  if (sequelize.getDialect() === 'sqlite' || !connection) return sequelize.query(sql, { transaction: tx, type });
  if (finished)
    return Promise.reject(new Error(`the transaction has ended (${finished}); ${sql.slice(0, 60)} not sent`));
  return withQueryHooks(
    sequelize,
    { sql, values: [] },
    () =>
      new Promise<unknown>((resolve, reject) => {
        connection.query(sql, (error, result) => {
          if (!error) return resolve(result);
          const { Query } = (sequelize as unknown as Internals).dialect;
          reject(new Query(connection, sequelize, { transaction: tx }).formatError(Object.assign(error, { sql })));
        });
      }),
  );
}
