import { QueryTypes, Transaction, type Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { sqlLiterals } from '../../core/sql-literal.ts';
import { runStatements, selectRows } from '../../core/statement-block.ts';
import type { MessageRecord } from '../models.ts';
import { documentTokens, type QueryTerms } from './search-tokens.ts';

/*
 * The search index (migrations/node/0070-search-index.ts): `message_search` holds the tokens of each
 * visible text message (MariaDB: a FULLTEXT column; SQLite: a row number into the FTS5 table
 * `message_search_fts`). Writing FULLTEXT or FTS5 rows is costly, so a flush does not: it appends the ids
 * whose text changed to `message_search_queue` (a plain table, one cheap multi-row insert), committed
 * with the messages; the indexer takes them from there after the commit. A search reads the queue as well
 * as the index, so what is committed is found at once, indexed or not.
 */

type Literal = ReturnType<typeof sqlLiterals>;

/** Ids whose tokens the new rows change: new text messages, and the targets of edits and recalls. */
function changedIds(rows: MessageRecord[]): string[] {
  const ids: string[] = [];
  for (const row of rows) {
    if (row.kind === 'text') ids.push(row.id);
    else if ((row.kind === 'edit' || row.kind === 'recall') && row.refId) ids.push(row.refId);
  }
  return ids;
}

/** The statement that queues the rows' text for the indexer, committed with them; none if nothing changed. */
export function queueStatement(rows: MessageRecord[], literal: Literal): string | undefined {
  const ids = changedIds(rows);
  if (ids.length === 0) return undefined;
  return `INSERT INTO message_search_queue (message_id) VALUES ${ids.map((id) => `(${literal(id)})`).join(', ')}`;
}

/**
 * One message's index row: its tokens, and where and when it was said, so that a search orders and
 * filters the candidates by the index rows alone and reads only a page of messages.
 */
export type IndexEntry = { id: string; conversationId: string; seq: number; createdAt: Date | string; tokens: string };

/**
 * Adds entries for messages not in the index yet (one statement per kind of table); on MariaDB an entry
 * already there is replaced (see indexQueued).
 */
export async function insertIndexEntries(
  sequelize: Sequelize,
  tx: Transaction,
  entries: IndexEntry[],
  literal: Literal = sqlLiterals(sequelize),
): Promise<void> {
  if (entries.length === 0) return;
  const about = (e: IndexEntry) => [e.id, e.conversationId, e.seq, e.createdAt].map(literal).join(', ');
  if (sequelize.getDialect() !== 'sqlite') {
    await runStatements(sequelize, tx, [
      `INSERT INTO message_search (message_id, conversation_id, seq, created_at, tokens) VALUES ${entries.map((e) => `(${about(e)}, ${literal(e.tokens)})`).join(', ')}
       ON DUPLICATE KEY UPDATE conversation_id = VALUES(conversation_id), seq = VALUES(seq),
         created_at = VALUES(created_at), tokens = VALUES(tokens)`,
    ]);
    return;
  }
  // Numbered here rather than read back (Sequelize's SQLite dialect drops an INSERT's RETURNING rows); the
  // transaction is SQLite's one writer, so nobody else numbers meanwhile.
  const [top] = await sequelize.query<{ doc: number | null }>('SELECT MAX(doc) AS doc FROM message_search', {
    type: QueryTypes.SELECT,
    transaction: tx,
  });
  const first = Number(top?.doc ?? 0) + 1;
  await sequelize.query(
    `INSERT INTO message_search (doc, message_id, conversation_id, seq, created_at) VALUES ${entries.map((e, i) => `(${first + i}, ${about(e)})`).join(', ')}`,
    { type: QueryTypes.INSERT, transaction: tx },
  );
  await sequelize.query(
    `INSERT INTO message_search_fts (rowid, tokens) VALUES ${entries.map((e, i) => `(${first + i}, ${literal(e.tokens)})`).join(', ')}`,
    { type: QueryTypes.INSERT, transaction: tx },
  );
}

/** Takes messages out of the index (before writing their new tokens, or for good). */
async function removeIndexEntries(sequelize: Sequelize, tx: Transaction, ids: string[], literal: Literal) {
  const list = ids.map(literal).join(', ');
  if (sequelize.getDialect() === 'sqlite') {
    await sequelize.query(
      `DELETE FROM message_search_fts WHERE rowid IN (SELECT doc FROM message_search WHERE message_id IN (${list}))`,
      { transaction: tx },
    );
  }
  await runStatements(sequelize, tx, [`DELETE FROM message_search WHERE message_id IN (${list})`]);
}

type Stored = {
  id: string;
  conversation_id: string;
  seq: number | string;
  created_at: Date | string;
  kind: string;
  body: string;
  recalled_at: unknown;
};

/** The text a message is found by; none once recalled or when it is not a text message. */
export function searchableText(row: { kind: string; body: string; recalled_at: unknown }): string | undefined {
  if (row.kind !== 'text' || row.recalled_at) return undefined;
  try {
    const text = (JSON.parse(row.body) as { text?: unknown }).text;
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Indexes one batch of the queue in one transaction; answers how many queued rows it took. On MariaDB
 * another process's indexer skips the rows this one took, and the messages are read with a shared lock:
 * an edit committing meanwhile waits, and its own queue row (a new one) is indexed after this batch.
 */
export async function indexQueued(sequelize: Sequelize, batch: number): Promise<number> {
  const sqlite = sequelize.getDialect() === 'sqlite';
  const literal = sqlLiterals(sequelize);
  // Read committed on MariaDB: at repeatable read the locking read of the queue's head would also lock the
  // gap after it, where every flush appends, and flushes would wait for (or deadlock with) the indexer.
  const isolation = sqlite ? {} : { isolationLevel: Transaction.ISOLATION_LEVELS.READ_COMMITTED };
  return sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE, ...isolation }, async (tx) => {
    const queued = await selectRows<{ seq: number; message_id: string }>(
      sequelize,
      tx,
      `SELECT seq, message_id FROM message_search_queue ORDER BY seq LIMIT ${literal(batch)}${sqlite ? '' : ' FOR UPDATE SKIP LOCKED'}`,
    );
    if (queued.length === 0) return 0;
    const ids = [...new Set(queued.map((q) => q.message_id))];
    const rows = await selectRows<Stored>(
      sequelize,
      tx,
      `SELECT id, conversation_id, seq, created_at, kind, body, recalled_at FROM messages WHERE id IN (${ids.map(literal).join(', ')})${sqlite ? '' : ' LOCK IN SHARE MODE'}`,
    );
    const entries: IndexEntry[] = [];
    for (const row of rows) {
      const text = searchableText(row);
      if (text === undefined) continue;
      const { id, conversation_id: conversationId, seq, created_at: createdAt } = row;
      entries.push({ id, conversationId, seq: Number(seq), createdAt, tokens: documentTokens(text) });
    }
    // On MariaDB an entry replaces the one there, so only messages with nothing to find any more (recalled) go
    // out: nearly every queued message is new, and looking each one up to delete nothing cost the indexer
    // about 5% of its time. SQLite's FTS5 rows are numbered anew, so every old one goes first.
    const entered = new Set(entries.map((e) => e.id));
    const gone = sqlite ? ids : ids.filter((id) => !entered.has(id));
    if (gone.length > 0) await removeIndexEntries(sequelize, tx, gone, literal);
    await insertIndexEntries(sequelize, tx, entries, literal);
    await runStatements(sequelize, tx, [
      `DELETE FROM message_search_queue WHERE seq IN (${queued.map((q) => literal(Number(q.seq))).join(', ')})`,
    ]);
    return queued.length;
  });
}

export type SearchIndexer = {
  /** `count` entries were queued by a flush of this process. */
  kick(count: number): void;
  /** Indexes until the queue is empty (tests, benchmarks). */
  drain(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * Moves the queue into the index after commits, off the path of the flush. It waits until this process's
 * flushes pause for `quietMs` (a burst of messages is indexed after it, not while its flushes compete for
 * the cores), unless `backlog` entries have gathered; and every `intervalMs` while flushes are quiet it
 * takes what other processes or federation queued (or a process that stopped left). Searches read the
 * queue too, so how soon this runs changes their speed, never what they find.
 */
export function createSearchIndexer(options: {
  sequelize: Sequelize;
  logger: Logger;
  batch?: number;
  quietMs?: number;
  backlog?: number;
  intervalMs?: number;
}): SearchIndexer {
  const { sequelize, logger, batch = 2000, quietMs = 250, backlog = 20_000, intervalMs = 1000 } = options;
  let running: Promise<void> | undefined;
  let soon: NodeJS.Timeout | undefined;
  let gathered = 0;
  let stopped = false;

  async function runOnce() {
    gathered = 0;
    try {
      while (!stopped && (await indexQueued(sequelize, batch)) > 0);
    } catch (err) {
      // The queue keeps what failed; the next run takes it again.
      logger.warn({ err }, 'search indexing failed');
    }
  }
  function run(): Promise<void> {
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  }
  const every = setInterval(() => {
    if (!soon) void run();
  }, intervalMs);
  every.unref();

  return {
    kick(count) {
      if (stopped) return;
      gathered += count;
      if (soon) clearTimeout(soon);
      soon = undefined;
      if (gathered >= backlog) {
        void run();
        return;
      }
      soon = setTimeout(() => {
        soon = undefined;
        void run();
      }, quietMs);
      soon.unref();
    },
    async drain() {
      await running;
      await run();
    },
    async stop() {
      stopped = true;
      clearInterval(every);
      if (soon) clearTimeout(soon);
      await running;
    },
  };
}

/**
 * The messages the index gives for the terms, plus every queued one, in SQL: each with its conversation,
 * number and time (the index row's copy, or the queued message's own).
 */
export function candidatesSql(sequelize: Sequelize, terms: QueryTerms): { sql: string; match: string } {
  const queued = `SELECT m.id, m.conversation_id, m.seq, m.created_at
                    FROM message_search_queue q JOIN messages m ON m.id = q.message_id`;
  const columns = 's.message_id AS id, s.conversation_id AS conversation_id, s.seq AS seq, s.created_at AS created_at';
  if (sequelize.getDialect() === 'sqlite') {
    const match = [...terms.exact, ...terms.prefix.map((t) => `${t}*`)].join(' AND ');
    return {
      sql: `SELECT ${columns} FROM message_search s
             WHERE s.doc IN (SELECT rowid FROM message_search_fts WHERE message_search_fts MATCH :match)
            UNION ${queued}`,
      match,
    };
  }
  const match = [...terms.exact.map((t) => `+${t}`), ...terms.prefix.map((t) => `+${t}*`)].join(' ');
  return {
    sql: `SELECT ${columns} FROM message_search s WHERE MATCH(s.tokens) AGAINST(:match IN BOOLEAN MODE)
          UNION ${queued}`,
    match,
  };
}
