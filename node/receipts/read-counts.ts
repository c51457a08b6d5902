import { QueryTypes } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import { READ_COUNTS_MAX } from '../../protocol/client-frames.ts';
import type { ReadCounts } from '../../protocol/frames.ts';
import type { NodeContext } from '../context.ts';
import { NotMemberError } from '../conversations/membership.ts';

const countsSchema = z.object({
  conversationId: z.string().uuid({ message: 'a conversation id' }),
  seqs: z
    .array(z.number({ message: 'a number' }).int({ message: 'a whole number' }).min(1, { message: 'at least 1' }))
    .min(1, { message: 'at least 1 seq' })
    .max(READ_COUNTS_MAX, { message: `at most ${READ_COUNTS_MAX} seqs` }),
});

/**
 * How many of a conversation's active members besides the asker have read up to each of `seqs` or
 * further: "read by k of N" for a device that holds only some members' receipts (a big group's views
 * list only their viewer). One statement, over a range of the members' read positions
 * (migrations/node/0110), from the lowest seq asked: it reads the readers of those entries, never the
 * whole group. Any active member may ask about any entry: each member's `readSeq` is in the member pages
 * every member may read, so the counts tell nothing new, only in one number.
 */
export async function readCounts(ctx: NodeContext, input: unknown): Promise<ReadCounts> {
  const { conversationId, seqs } = parseInput(countsSchema, input);
  const members = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  if (!members.has(ctx.actor.address)) throw new NotMemberError();
  const asked = [...new Set(seqs)].sort((a, b) => a - b);
  const sums = asked.map((_, n) => `SUM(CASE WHEN read_seq >= ? THEN 1 ELSE 0 END) AS c${n}`).join(', ');
  const [row] = await ctx.sequelize.query<Record<string, number | string | null>>(
    `SELECT ${sums} FROM members
      WHERE conversation_id = ? AND state = 'active' AND read_seq >= ? AND address <> ?`,
    { replacements: [...asked, conversationId, asked[0]!, ctx.actor.address], type: QueryTypes.SELECT },
  );
  return {
    conversationId,
    memberCount: members.size,
    counts: asked.map((seq, n) => ({ seq, read: Number(row?.[`c${n}`] ?? 0) })),
  };
}
