import { randomUUID } from 'node:crypto';
import { QueryTypes, Transaction, UniqueConstraintError, type InferCreationAttributes, type Sequelize } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { sqlTimestamp } from '../../core/database.ts';
import type { Message, NodeModels } from '../models.ts';

/** One entry to append to a conversation's sequence. */
export type Append = {
  conversationId: string;
  sender: string;
  clientMsgId: string;
  kind: string;
  body: string;
  refId?: string | null;
  /** The connection that sent it, which fan-out does not echo to (it gets the ack instead). */
  origin?: string;
  /** Extra writes that must commit with the entry (an edit rewriting its target, say). */
  alsoWrite?: (tx: Transaction, stored: Message) => Promise<void>;
};

export type Appended = { message: Message; duplicate: boolean };
export type Committed = { message: Message; origin: string | undefined };

export class StoreFailedError extends AppError {
  constructor() {
    super('store_failed', 503, 'The message could not be stored; it was not sent. Retry.');
  }
}

type Pending = Append & { resolve(result: Appended): void; reject(error: Error): void };

export type GroupCommitter = {
  /** Resolves once the entry is durable (committed), or with the earlier entry for a retried client id. */
  append(entry: Append): Promise<Appended>;
  /** Waits for everything queued so far to be flushed. */
  drain(): Promise<void>;
};

export type GroupCommitOptions = {
  sequelize: Sequelize;
  models: NodeModels;
  windowMs: number;
  maxBatch: number;
  logger: Logger;
  /** Runs inside each flush transaction with the new entries, for writes that must commit with them (the federation outbox). */
  beforeCommit?(tx: Transaction, stored: Message[]): Promise<void>;
  /** Runs after each commit with the newly stored entries (fan-out); never before the commit. */
  afterCommit(stored: Committed[]): void;
};

/**
 * Group commit: entries arriving within a short window are written with one multi-row insert in one
 * transaction, which also advances each conversation's gap-free sequence under a row lock. Callers are
 * answered only after the commit. One flush runs at a time per process; the next batch gathers meanwhile.
 */
export function createGroupCommitter(options: GroupCommitOptions): GroupCommitter {
  const { sequelize, models, logger } = options;
  let queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  function schedule() {
    if (flushing || timer) return;
    if (queue.length >= options.maxBatch || options.windowMs === 0) {
      flushing = runFlush();
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      if (!flushing) flushing = runFlush();
    }, options.windowMs);
  }

  async function runFlush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, options.maxBatch);
      await flushBatch(batch);
    }
    flushing = undefined;
  }

  async function flushBatch(batch: Pending[]): Promise<void> {
    try {
      const results = await writeBatch(batch);
      settle(batch, results);
    } catch (error) {
      if (error instanceof UniqueConstraintError && batch.length > 1) {
        // Another process stored one of these client ids meanwhile: write them one by one, so only
        // the duplicate resolves to the stored entry and the rest are unaffected.
        for (const item of batch) await flushBatch([item]);
        return;
      }
      if (error instanceof UniqueConstraintError) {
        try {
          settle(batch, await writeBatch(batch));
          return;
        } catch (retryError) {
          error = retryError;
        }
      }
      logger.error({ err: error, entries: batch.length }, 'group commit failed');
      for (const item of batch) item.reject(new StoreFailedError());
    }
  }

  function settle(batch: Pending[], results: Appended[]) {
    const fresh: Committed[] = [];
    batch.forEach((item, i) => {
      const result = results[i]!;
      item.resolve(result);
      if (!result.duplicate) fresh.push({ message: result.message, origin: item.origin });
    });
    if (fresh.length > 0) {
      try {
        options.afterCommit(fresh);
      } catch (err) {
        logger.error({ err }, 'fan-out after commit failed');
      }
    }
  }

  async function writeBatch(batch: Pending[]): Promise<Appended[]> {
    const { Message } = models;
    return sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, async (tx) => {
      const existing = await findStored(sequelize, Message, tx, batch);
      const known = new Map(existing.map((m) => [`${m.sender}\n${m.clientMsgId}`, m]));
      const conversationIds = [...new Set(batch.filter((b) => !known.has(`${b.sender}\n${b.clientMsgId}`)).map((b) => b.conversationId))];
      const conversations = await lockConversations(sequelize, tx, conversationIds);
      const nextSeq = new Map(conversations.map((c) => [c.id, c.lastSeq]));
      const now = new Date();
      const rows: InferCreationAttributes<Message>[] = [];
      const results: Appended[] = [];
      const pendingNew = new Map<string, number>();
      for (const item of batch) {
        const key = `${item.sender}\n${item.clientMsgId}`;
        const stored = known.get(key);
        if (stored) {
          results.push({ message: stored, duplicate: true });
          continue;
        }
        const inBatch = pendingNew.get(key);
        if (inBatch !== undefined) {
          results.push({ message: results[inBatch]!.message, duplicate: true });
          continue;
        }
        const last = nextSeq.get(item.conversationId);
        if (last === undefined) throw new AppError('not_found', 404, 'The conversation does not exist');
        const seq = last + 1;
        nextSeq.set(item.conversationId, seq);
        const row = {
          conversationId: item.conversationId,
          seq,
          id: randomUUID(),
          sender: item.sender,
          clientMsgId: item.clientMsgId,
          kind: item.kind,
          body: item.body,
          refId: item.refId ?? null,
          createdAt: now,
          editedAt: null,
          recalledAt: null,
        };
        rows.push(row);
        pendingNew.set(key, results.length);
        results.push({ message: Message.build(row, { isNewRecord: false }), duplicate: false });
      }
      if (rows.length > 0) {
        await insertRows(sequelize, tx, rows);
        const advanced = conversations.filter((c) => nextSeq.get(c.id) !== c.lastSeq).map((c) => [c.id, nextSeq.get(c.id)!] as const);
        await advanceSequences(sequelize, tx, advanced, now);
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i]!;
          const result = results[i]!;
          if (!result.duplicate && item.alsoWrite) await item.alsoWrite(tx, result.message);
        }
        if (options.beforeCommit) await options.beforeCommit(tx, results.filter((r) => !r.duplicate).map((r) => r.message));
      }
      return results;
    });
  }

  return {
    append(entry) {
      return new Promise<Appended>((resolve, reject) => {
        queue.push({ ...entry, resolve, reject });
        schedule();
      });
    },
    async drain() {
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
        if (!flushing) flushing = runFlush();
      }
      while (flushing) await flushing;
    },
  };
}

/**
 * Moves many conversations' last sequence forward in a few statements (one CASE update per 500
 * conversations) instead of one UPDATE each: a flush may touch thousands of conversations.
 */
async function advanceSequences(sequelize: Sequelize, tx: Transaction, advanced: (readonly [string, number])[], now: Date): Promise<void> {
  for (let i = 0; i < advanced.length; i += 500) {
    const chunk = advanced.slice(i, i + 500);
    const cases = chunk.map(() => 'WHEN ? THEN ?').join(' ');
    await sequelize.query(`UPDATE conversations SET last_seq = CASE id ${cases} END, updated_at = ? WHERE id IN (${chunk.map(() => '?').join(', ')})`, {
      replacements: [...chunk.flatMap(([id, seq]) => [id, seq]), sqlTimestamp(sequelize, now), ...chunk.map(([id]) => id)],
      transaction: tx,
    });
  }
}

// The statements of a flush are written out by hand: at thousands of entries per flush, building them
// through model instances cost more than the database work itself (bench/node profile).

const CHUNK = 500;

/** Entries already stored under these (sender, client id) pairs: the retried sends. */
async function findStored(sequelize: Sequelize, Message: NodeModels['Message'], tx: Transaction, batch: Append[]): Promise<Message[]> {
  const found: Message[] = [];
  for (let i = 0; i < batch.length; i += CHUNK) {
    const chunk = batch.slice(i, i + CHUNK);
    const rows = await sequelize.query<Record<string, unknown>>(`SELECT * FROM messages WHERE (sender, client_msg_id) IN (${chunk.map(() => '(?, ?)').join(', ')})`, {
      replacements: chunk.flatMap((b) => [b.sender, b.clientMsgId]),
      type: QueryTypes.SELECT,
      transaction: tx,
    });
    for (const r of rows) {
      found.push(
        Message.build(
          {
            conversationId: String(r.conversation_id),
            seq: Number(r.seq),
            id: String(r.id),
            sender: String(r.sender),
            clientMsgId: String(r.client_msg_id),
            kind: String(r.kind),
            body: String(r.body),
            refId: (r.ref_id as string | null) ?? null,
            createdAt: new Date(r.created_at as string),
            editedAt: r.edited_at ? new Date(r.edited_at as string) : null,
            recalledAt: r.recalled_at ? new Date(r.recalled_at as string) : null,
          },
          { isNewRecord: false },
        ),
      );
    }
  }
  return found;
}

/** Reads the conversations' last sequence numbers, holding their rows until the flush commits. */
async function lockConversations(sequelize: Sequelize, tx: Transaction, ids: string[]): Promise<{ id: string; lastSeq: number }[]> {
  const out: { id: string; lastSeq: number }[] = [];
  const lock = sequelize.getDialect() === 'sqlite' ? '' : ' FOR UPDATE';
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const rows = await sequelize.query<{ id: string; last_seq: number | string }>(`SELECT id, last_seq FROM conversations WHERE id IN (${chunk.map(() => '?').join(', ')})${lock}`, {
      replacements: chunk,
      type: QueryTypes.SELECT,
      transaction: tx,
    });
    for (const row of rows) out.push({ id: row.id, lastSeq: Number(row.last_seq) });
  }
  return out;
}

const COLUMNS = ['conversation_id', 'seq', 'id', 'sender', 'client_msg_id', 'kind', 'body', 'ref_id', 'created_at', 'edited_at', 'recalled_at'];

/** One multi-row INSERT per 500 entries. */
export async function insertRows(sequelize: Sequelize, tx: Transaction, rows: InferCreationAttributes<Message>[]): Promise<void> {
  const placeholders = `(${COLUMNS.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await sequelize.query(`INSERT INTO messages (${COLUMNS.join(', ')}) VALUES ${chunk.map(() => placeholders).join(', ')}`, {
      replacements: chunk.flatMap((r) => [r.conversationId, r.seq, r.id, r.sender, r.clientMsgId, r.kind, r.body, r.refId ?? null, sqlTimestamp(sequelize, r.createdAt), sqlTimestamp(sequelize, r.editedAt), sqlTimestamp(sequelize, r.recalledAt)]),
      type: QueryTypes.INSERT,
      transaction: tx,
    });
  }
}
