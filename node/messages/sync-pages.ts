import { QueryTypes } from 'sequelize';
import type { NodeContext } from '../context.ts';
import { messageRecordOf } from './message-row.ts';
import { presentMessage, type PresentedMessage } from './present-message.ts';

/** The entries of one conversation a sync sends: those with `after < seq <= upTo`. */
export type SyncRange = { conversationId: string; after: number; upTo: number };

/** Entries a device missed and did not get: those after `afterSeq` and before `beforeSeq` (docs/protocol.md). */
export type SyncGap = { conversationId: string; afterSeq: number; beforeSeq: number };

export type SyncPlan = { ranges: SyncRange[]; more: string[]; gaps: SyncGap[] };

type Viewed = { id: string; lastSeq: number; joinedSeq: number };

/**
 * Which entries of each conversation a sync sends, from what the device holds (`cursors`) and the
 * conversations as they are now. Only arithmetic on sequences, which are gap-free: the cost of a sync
 * depends on what it sends, never on how long a conversation's history is.
 *  - No cursor (a new device, a conversation new to it): the last `recent` entries.
 *  - A cursor, at most `limit` behind: everything after it.
 *  - A cursor further behind: with `gaps`, the last `recent` entries and a gap between the cursor and
 *    them, which the device fills through `history` if its person scrolls back; without, the next
 *    `limit` entries after the cursor and the conversation in `more` (sync again to get the rest).
 */
export function planSync(
  conversations: Viewed[],
  cursors: Record<string, number>,
  options: { limit: number; recent: number; gaps: boolean },
): SyncPlan {
  const plan: SyncPlan = { ranges: [], more: [], gaps: [] };
  for (const c of conversations) {
    const held = cursors[c.id];
    const from = Math.max(held ?? c.lastSeq - options.recent, c.joinedSeq);
    if (from >= c.lastSeq) continue;
    let range: SyncRange = { conversationId: c.id, after: from, upTo: c.lastSeq };
    if (held !== undefined && c.lastSeq - from > options.limit) {
      if (options.gaps) {
        const after = Math.max(c.lastSeq - options.recent, from);
        plan.gaps.push({ conversationId: c.id, afterSeq: from, beforeSeq: after + 1 });
        range = { conversationId: c.id, after, upTo: c.lastSeq };
      } else {
        plan.more.push(c.id);
        range = { conversationId: c.id, after: from, upTo: from + options.limit };
      }
    }
    if (range.upTo > range.after) plan.ranges.push(range);
  }
  return plan;
}

/** Conversations per statement: a few hundred bounded ranges are one cheap statement on either database. */
const RANGES_PER_QUERY = 100;

/**
 * The entries of the ranges, in conversation and sequence order: one statement per hundred
 * conversations (a round trip per conversation made a first sync of 200 conversations 200 statements),
 * each range a bounded scan of the (conversation_id, seq) primary key. Conversations come in the
 * order of `ranges` (the most recently active first), each in sequence order.
 */
export async function entriesOf(ctx: NodeContext, ranges: SyncRange[]): Promise<PresentedMessage[]> {
  const out: PresentedMessage[] = [];
  for (let i = 0; i < ranges.length; i += RANGES_PER_QUERY) {
    const chunk = ranges.slice(i, i + RANGES_PER_QUERY);
    // Plain rows, not model instances: building ten thousand instances took most of a first sync's time.
    const rows = await ctx.sequelize.query<Record<string, unknown>>(
      `SELECT * FROM messages
        WHERE ${chunk.map(() => '(conversation_id = ? AND seq > ? AND seq <= ?)').join(' OR ')}
        ORDER BY conversation_id, seq`,
      { replacements: chunk.flatMap((r) => [r.conversationId, r.after, r.upTo]), type: QueryTypes.SELECT },
    );
    for (const row of rows) out.push(presentMessage(messageRecordOf(row)));
  }
  const rank = new Map(ranges.map((r, i) => [r.conversationId, i]));
  return out.sort((a, b) => rank.get(a.conversationId)! - rank.get(b.conversationId)!);
}
