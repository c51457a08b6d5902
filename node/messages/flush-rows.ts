import { AppError } from '../../core/errors.ts';
import type { sqlLiterals } from '../../core/sql-literal.ts';
import { uuidv7 } from '../../core/uuid7.ts';
import type { MessageRecord } from '../models.ts';

/** What an entry of a conversation's sequence says. */
export type Entry = {
  conversationId: string;
  sender: string;
  clientMsgId: string;
  kind: string;
  body: string;
  refId?: string | null;
};

/** What a flush numbers: an entry and the key its retries share (sender and client id). */
export type Numbered = Entry & { key: string };

/** What a flush answers for an entry: the stored message, and whether it had been stored before. */
export type Appended = { message: MessageRecord; duplicate: boolean };

/**
 * Gives each new entry the next number of its conversation, from the locked last numbers. An entry
 * already stored (`known`), or repeated within the batch, is answered with the stored one instead.
 */
export function numberEntries<T extends Numbered>(
  batch: T[],
  known: Map<string, MessageRecord>,
  conversations: { id: string; lastSeq: number }[],
  now: Date,
  bodies: Map<T, string>,
) {
  const nextSeq = new Map(conversations.map((c) => [c.id, c.lastSeq]));
  const rows: MessageRecord[] = [];
  const results: Appended[] = [];
  const pendingNew = new Map<string, number>();
  for (const item of batch) {
    const stored = known.get(item.key);
    if (stored) {
      results.push({ message: stored, duplicate: true });
      continue;
    }
    const inBatch = pendingNew.get(item.key);
    if (inBatch !== undefined) {
      results.push({ message: results[inBatch]!.message, duplicate: true });
      continue;
    }
    const last = nextSeq.get(item.conversationId);
    if (last === undefined) throw new AppError('not_found', 404, 'The conversation does not exist');
    const seq = last + 1;
    nextSeq.set(item.conversationId, seq);
    const row: MessageRecord = {
      conversationId: item.conversationId,
      seq,
      id: uuidv7(now.getTime()),
      sender: item.sender,
      clientMsgId: item.clientMsgId,
      kind: item.kind,
      body: bodies.get(item) ?? item.body,
      refId: item.refId ?? null,
      createdAt: now,
      editedAt: null,
      recalledAt: null,
    };
    rows.push(row);
    pendingNew.set(item.key, results.length);
    results.push({ message: row, duplicate: false });
  }
  return { rows, results, nextSeq };
}

/**
 * How a flush's statements name the conversations it locks and moves on MariaDB: looked up one by one by
 * key, never read whole. The optimizer reads the table whole when the flush's conversations are a large
 * share of it (a node with few, or a busy flush of many), and a locking read or an UPDATE locks every row
 * it reads, so flushes of other conversations (other lanes, other processes) waited for this one.
 */
export const BY_KEY = 'FORCE INDEX (PRIMARY)';

export const MESSAGE_COLUMNS =
  'conversation_id, seq, id, sender, client_msg_id, kind, body, ref_id, created_at, edited_at, recalled_at';

/** A row's values for a multi-row INSERT, in MESSAGE_COLUMNS' order; `seq` as written, unless an expression is given. */
export function rowValues(r: MessageRecord, literal: ReturnType<typeof sqlLiterals>, seq?: string): string {
  const rest = [r.id, r.sender, r.clientMsgId, r.kind, r.body, r.refId ?? null, r.createdAt, r.editedAt ?? null];
  return `(${literal(r.conversationId)}, ${seq ?? literal(r.seq)}, ${rest.map(literal).join(', ')}, ${literal(r.recalledAt ?? null)})`;
}
