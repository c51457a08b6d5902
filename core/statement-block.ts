import type { Sequelize, Transaction } from 'sequelize';

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
    await sequelize.query(`BEGIN NOT ATOMIC ${statements.join('; ')}; END`, { transaction: tx });
    return;
  }
  for (const sql of statements) await sequelize.query(sql, { transaction: tx });
}
