import { QueryTypes, type Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { sqlLiterals } from '../../core/sql-literal.ts';
import { NotMemberError } from '../conversations/membership.ts';
import { AppError } from '../../core/errors.ts';
import { coveredRanges, coveredSenders, type Positions } from './receipt-recipients.ts';

/** A member asks to move their position in a conversation up to `upTo` (`read` moves both positions). */
export type ReceiptRequest = { conversationId: string; address: string; kind: 'read' | 'delivered'; upTo: number };

/** Where a member's positions were and are now, and the senders of the messages the move newly covers. */
export type ReceiptMove = {
  conversationId: string;
  address: string;
  before: Positions;
  after: Positions;
  senders: string[];
};

export type ReceiptCommitter = {
  /** Resolves once the move is stored (or there was nothing to move). */
  mark(request: ReceiptRequest): Promise<ReceiptMove>;
  /** Waits for everything queued so far to be written. */
  drain(): Promise<void>;
};

export class ReceiptFailedError extends AppError {
  constructor() {
    super('store_failed', 503, 'The receipt could not be stored. Retry.');
  }
}

type Pending = ReceiptRequest & { resolve(move: ReceiptMove): void; reject(error: Error): void };
type Row = { conversation_id: string; address: string; read_seq: number | string; delivered_seq: number | string };

/** Above this many entries between a conversation's lowest and highest moved position, senders are looked up per move. */
const WIDE_RANGE = 2_000;

/**
 * Receipts written together, as messages are: when every member of a big group marks each message
 * delivered (as the portal does), one request per receipt meant five statements per receipt; a flush
 * writes all the receipts of a short window with five statements in all. Positions only move forward
 * (GREATEST in the database, whoever writes at the same time) and never past the end of a conversation
 * this node is the home of; a copy of a conversation hosted elsewhere may lag behind its home (the
 * reader's own message acked there, not yet replicated), so there the position is taken on trust and
 * checked by the home.
 *
 * No transaction is needed: positions only grow, so reading them before the update can only widen the
 * range a move is said to cover, which at worst tells a sender of a receipt they already had.
 */
export function createReceiptCommitter(options: {
  sequelize: Sequelize;
  domain: string;
  windowMs: number;
  maxBatch: number;
  logger: Logger;
}): ReceiptCommitter {
  const { sequelize, domain, logger } = options;
  const db: Db = { sequelize, literal: sqlLiterals(sequelize), sqlite: sequelize.getDialect() === 'sqlite' };
  let queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  function schedule() {
    if (timer || running || queue.length === 0) return;
    timer = setTimeout(flush, queue.length >= options.maxBatch ? 0 : options.windowMs);
  }

  function flush() {
    timer = undefined;
    const batch = queue.slice(0, options.maxBatch);
    queue = queue.slice(batch.length);
    running = write(db, domain, batch)
      .then((moves) => {
        for (const item of batch) {
          const move = moves.get(keyOf(item));
          if (move) item.resolve(move);
          else item.reject(new NotMemberError());
        }
      })
      .catch((err: unknown) => {
        logger.error({ err, receipts: batch.length }, 'receipt flush failed');
        for (const item of batch) item.reject(new ReceiptFailedError());
      })
      .finally(() => {
        running = undefined;
        schedule();
      });
  }

  return {
    mark(request) {
      return new Promise<ReceiptMove>((resolve, reject) => {
        queue.push({ ...request, resolve, reject });
        schedule();
      });
    },
    async drain() {
      while (queue.length > 0 || running || timer) {
        if (timer) {
          clearTimeout(timer);
          flush();
        }
        await running;
        if (!running && !timer) schedule();
      }
    },
  };
}

type Db = { sequelize: Sequelize; literal: ReturnType<typeof sqlLiterals>; sqlite: boolean };
type Target = { conversationId: string; address: string; read: number; delivered: number };

/** One target per member: the furthest each of their requests asks for. */
function targetsOf(batch: Pending[]): Map<string, Target> {
  const targets = new Map<string, Target>();
  for (const item of batch) {
    const key = keyOf(item);
    const t = targets.get(key) ?? { conversationId: item.conversationId, address: item.address, read: 0, delivered: 0 };
    t.delivered = Math.max(t.delivered, item.upTo);
    if (item.kind === 'read') t.read = Math.max(t.read, item.upTo);
    targets.set(key, t);
  }
  return targets;
}

/** No target goes past the end of a conversation this node is the home of. */
async function capAtEnds(db: Db, domain: string, targets: Iterable<Target>): Promise<void> {
  const list = [...targets];
  const ids = [...new Set(list.map((t) => t.conversationId))];
  const conversations = await db.sequelize.query<{ id: string; home_domain: string; last_seq: number | string }>(
    `SELECT id, home_domain, last_seq FROM conversations WHERE id IN (${ids.map(db.literal).join(', ')})`,
    { type: QueryTypes.SELECT },
  );
  const ends = new Map(
    conversations.map((c) => [c.id, c.home_domain === domain ? Number(c.last_seq) : Number.MAX_SAFE_INTEGER]),
  );
  for (const t of list) {
    const end = ends.get(t.conversationId) ?? 0;
    t.read = Math.min(t.read, end);
    t.delivered = Math.min(t.delivered, end);
  }
}

/** Writes a batch of receipts: the moves of active members, by `conversationId\naddress`. */
async function write(db: Db, domain: string, batch: Pending[]): Promise<Map<string, ReceiptMove>> {
  const targets = targetsOf(batch);
  await capAtEnds(db, domain, targets.values());
  const before = await positions(db, [...targets.values()]);
  const moving = [...targets.values()].filter((t) => {
    const b = before.get(`${t.conversationId}\n${t.address}`);
    return b && (t.read > b.readSeq || t.delivered > b.deliveredSeq);
  });
  const after = moving.length > 0 ? await raise(db, moving) : new Map<string, Positions>();

  const moves = new Map<string, ReceiptMove>();
  for (const [key, b] of before) {
    const t = targets.get(key)!;
    moves.set(key, {
      conversationId: t.conversationId,
      address: t.address,
      before: b,
      after: after.get(key) ?? b,
      senders: [],
    });
  }
  await findSenders(
    db,
    [...moves.values()].filter((m) => coveredRanges(m.before, m.after).length > 0),
  );
  return moves;
}

/**
 * The active members' positions, by `conversationId\naddress`. Asked as two plain IN lists, which use
 * the (conversation_id, address) key, and sorted out here: MariaDB ran the same question with a
 * `(conversation_id, address) IN ((…), …)` list as a scan per pair, ~5 s for 2,000 pairs.
 */
async function positions(
  db: Db,
  members: { conversationId: string; address: string }[],
): Promise<Map<string, Positions>> {
  const wanted = new Set(members.map(keyOf));
  const ids = [...new Set(members.map((m) => m.conversationId))];
  const addresses = [...new Set(members.map((m) => m.address))];
  const rows = await db.sequelize.query<Row>(
    `SELECT conversation_id, address, read_seq, delivered_seq FROM members WHERE conversation_id IN (${ids.map(db.literal).join(', ')}) AND address IN (${addresses.map(db.literal).join(', ')}) AND state = 'active'`,
    { type: QueryTypes.SELECT },
  );
  const found = new Map<string, Positions>();
  for (const r of rows) {
    const key = `${r.conversation_id}\n${r.address}`;
    if (wanted.has(key)) found.set(key, { readSeq: Number(r.read_seq), deliveredSeq: Number(r.delivered_seq) });
  }
  return found;
}

/** Moves the positions forward (never back, whoever else writes meanwhile) and reads where they are now. */
async function raise(db: Db, moving: Target[]): Promise<Map<string, Positions>> {
  const { sequelize, literal } = db;
  const now = literal(new Date());
  if (db.sqlite) {
    const values = moving
      .map((t) => `(${literal(t.conversationId)}, ${literal(t.address)}, ${literal(t.read)}, ${literal(t.delivered)})`)
      .join(', ');
    await sequelize.query(
      `UPDATE members SET read_seq = MAX(read_seq, v.column3), delivered_seq = MAX(delivered_seq, v.column4, v.column3), updated_at = ${now} ` +
        `FROM (VALUES ${values}) AS v WHERE members.conversation_id = v.column1 AND members.address = v.column2 AND members.state = 'active'`,
    );
  } else {
    const values = moving
      .map((t, n) =>
        n === 0
          ? `SELECT ${literal(t.conversationId)} AS cid, ${literal(t.address)} AS addr, ${literal(t.read)} AS r, ${literal(t.delivered)} AS d`
          : `SELECT ${literal(t.conversationId)}, ${literal(t.address)}, ${literal(t.read)}, ${literal(t.delivered)}`,
      )
      .join(' UNION ALL ');
    await sequelize.query(
      `UPDATE members m JOIN (${values}) v ON m.conversation_id = v.cid AND m.address = v.addr ` +
        `SET m.read_seq = GREATEST(m.read_seq, v.r), m.delivered_seq = GREATEST(m.delivered_seq, v.d, v.r), m.updated_at = ${now} WHERE m.state = 'active'`,
    );
  }
  return positions(db, moving);
}

/**
 * Fills in each move's senders. The moves of one conversation usually cover the same few new entries:
 * one query reads the entries between their lowest and highest position and each move takes its own.
 */
async function findSenders(db: Db, moves: ReceiptMove[]): Promise<void> {
  const byConversation = new Map<string, ReceiptMove[]>();
  for (const m of moves) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m]);
  for (const [conversationId, list] of byConversation) {
    const ranges = new Map(list.map((m) => [m, coveredRanges(m.before, m.after)]));
    const low = Math.min(...[...ranges.values()].flat().map(([l]) => l));
    const high = Math.max(...[...ranges.values()].flat().map(([, h]) => h));
    if (high - low > WIDE_RANGE) {
      // Someone catching up on a long conversation: only the distinct senders of each one's own range.
      for (const m of list) m.senders = await coveredSenders(db.sequelize, conversationId, m.before, m.after);
      continue;
    }
    const entries = await db.sequelize.query<{ seq: number | string; sender: string }>(
      `SELECT seq, sender FROM messages WHERE conversation_id = ${db.literal(conversationId)} AND kind IN ('text', 'card') AND seq > ${db.literal(low)} AND seq <= ${db.literal(high)}`,
      { type: QueryTypes.SELECT },
    );
    for (const m of list) {
      const covers = (seq: number) => ranges.get(m)!.some(([l, h]) => seq > l && seq <= h);
      m.senders = [...new Set(entries.filter((e) => covers(Number(e.seq))).map((e) => e.sender))];
    }
  }
}

const keyOf = (r: { conversationId: string; address: string }) => `${r.conversationId}\n${r.address}`;
