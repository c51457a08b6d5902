import type { Connection } from 'mysql2';
import type { Sequelize } from 'sequelize';
import { queryHooks } from '../../core/query-hooks.ts';
import { BLOCK_MAX_CHARS } from '../../core/statement-block.ts';
import type { sqlLiterals } from '../../core/sql-literal.ts';
import { BY_KEY, MESSAGE_COLUMNS, numberEntries, rowValues, type Appended, type Numbered } from './flush-rows.ts';
import { queueStatement } from './search-index.ts';

/** What this module uses of Sequelize's connection manager (mysql2 connections of the callback API). */
type Pool = {
  getConnection(options: { type: 'write' }): Promise<Connection>;
  releaseConnection(connection: Connection): void;
};

/** A row's share of the statement besides its sender, client id and body: ids, numbers, times, its queue entry. */
const ROW_CHARS = 200;

/**
 * Whether a batch may fit one statement, known before building it and stopping as soon as it is over: at a
 * busy node's flushes of a thousand entries, building their statement only to drop it cost 3% of the
 * node's CPU (bench:node profile). The statement's exact length is checked once built.
 */
export function mayFitOneStatement(batch: Numbered[]): boolean {
  let estimate = 0;
  for (const item of batch) {
    estimate += ROW_CHARS + item.body.length + item.sender.length + item.clientMsgId.length;
    if (estimate > BLOCK_MAX_CHARS) return false;
  }
  return true;
}

/**
 * A small flush on MariaDB in one round trip: one anonymous compound statement begins the transaction,
 * locks the conversations and reads their last numbers, inserts the entries numbered after them, queues
 * their text for the search index, moves the numbers on, answers the numbers it started from, and commits.
 * The usual flush sends each of those steps on its own (begin, lock, writes, commit: four round trips,
 * each a wake-up of MariaDB and of the node on the same cores), and for a lone message its flush was most
 * of the time from send to receive (bench:node's closed loop).
 *
 * Only for entries without checks or writes of their own, in conversations whose flush needs nothing
 * else in its transaction (the caller decides). Numbers stay gap-free and in order: the conversations are
 * locked, in key order as the usual flush locks them, before any number is given, and the caller starts
 * the lane's next flush only once this one has answered. Anything that fails (a retried client id met on
 * the unique key, a deadlock, a lost connection) is rolled back, and the answer is undefined: the caller
 * then writes the batch the usual way, which knows every such case. Each entry answers the same as there.
 */
export async function flushInOneTrip<T extends Numbered>(
  sequelize: Sequelize,
  literal: ReturnType<typeof sqlLiterals>,
  batch: T[],
  now: Date,
): Promise<Appended[] | undefined> {
  if (!mayFitOneStatement(batch)) return undefined;
  const ids = [...new Set(batch.map((item) => item.conversationId))].sort();
  // Numbered from 0 in each conversation; the statement adds the number it locked.
  const plan = numberEntries(
    batch,
    new Map(),
    ids.map((id) => ({ id, lastSeq: 0 })),
    now,
    new Map(),
  );
  const sql = flushStatement(ids, plan.rows, plan.nextSeq, literal, now);
  // A big flush is mostly the server's work: as one block it went slower (core/statement-block.ts).
  if (sql.length > BLOCK_MAX_CHARS) return undefined;
  const sent = await sendOnce(sequelize, sql);
  if (!sent.committed) return undefined;
  // Committed: from here on nothing may send the batch again (it would meet itself as stored).
  const base = ids.map((_, i) => Number(sent.row?.[`c${i}`]));
  if (!base.every(Number.isSafeInteger)) throw new Error('a flush committed in one statement answered no numbers');
  const baseOf = new Map(ids.map((id, i) => [id, base[i]!]));
  for (const row of plan.rows) row.seq += baseOf.get(row.conversationId)!;
  return plan.results;
}

function flushStatement(
  ids: string[],
  rows: Parameters<typeof rowValues>[0][],
  counts: Map<string, number>,
  literal: ReturnType<typeof sqlLiterals>,
  now: Date,
): string {
  // c0, c1, …: each conversation's last number before this flush, in the order of `ids`.
  const slot = new Map(ids.map((id, i) => [id, `c${i}`]));
  const list = ids.map(literal).join(', ');
  const lastOf = ids.map((id) => `MAX(IF(id = ${literal(id)}, last_seq, NULL))`).join(', ');
  const values = rows.map((r) => rowValues(r, literal, `${slot.get(r.conversationId)} + ${r.seq}`)).join(', ');
  const moved = ids.map((id) => `WHEN ${literal(id)} THEN ${slot.get(id)} + ${counts.get(id)}`).join(' ');
  const queued = queueStatement(rows, literal);
  return [
    `BEGIN NOT ATOMIC DECLARE ${[...slot.values()].join(', ')} BIGINT`,
    'START TRANSACTION',
    `SELECT ${lastOf} INTO ${[...slot.values()].join(', ')} FROM conversations ${BY_KEY} WHERE id IN (${list}) FOR UPDATE`,
    `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES ${values}`,
    ...(queued ? [queued] : []),
    `UPDATE conversations ${BY_KEY} SET last_seq = CASE id ${moved} END, updated_at = ${literal(now)} WHERE id IN (${list})`,
    `SELECT ${[...slot.values()].join(', ')}`,
    'COMMIT',
    'END',
  ].join('; ');
}

/**
 * Sends the statement on a connection of Sequelize's pool, through its query hooks (tests and the
 * benchmark count statements with them). Committed, with its one row; or not, after rolling back.
 */
async function sendOnce(
  sequelize: Sequelize,
  sql: string,
): Promise<{ committed: true; row: Record<string, unknown> | undefined } | { committed: false }> {
  const pool = sequelize.connectionManager as unknown as Pool;
  const connection = await pool.getConnection({ type: 'write' });
  const statement = { sql, values: [] };
  const hooks = queryHooks(sequelize);
  let result: unknown;
  try {
    await hooks?.before(statement);
    result = await query(connection, sql);
  } catch {
    // The block stops at its first failure with the transaction open (a deadlock has rolled it back).
    await query(connection, 'ROLLBACK').catch(() => undefined);
    return { committed: false };
  } finally {
    // A connection that failed is not handed out again: Sequelize's pool checks each before it does.
    pool.releaseConnection(connection);
  }
  // Committed: a hook's failure now changes nothing.
  await hooks?.after(statement).catch(() => undefined);
  // The block's one result set (its last SELECT), then the status of the block itself.
  const rows = Array.isArray(result) ? result[0] : undefined;
  return { committed: true, row: Array.isArray(rows) ? (rows[0] as Record<string, unknown>) : undefined };
}

function query(connection: Connection, sql: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query(sql, (error, result) => (error ? reject(error) : resolve(result)));
  });
}
