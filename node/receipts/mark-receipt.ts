import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { assertMember } from '../conversations/membership.ts';
import { receiptAudience } from './receipt-recipients.ts';

const receiptSchema = z.object({ conversationId: z.string().uuid(), seq: z.number().int().min(0) });

export type Receipt = { conversationId: string; address: string; readSeq: number; deliveredSeq: number };

/**
 * Moves the actor's delivered (and, for `read`, read) position forward — never back, never past the
 * conversation's end — through the receipt committer, and tells of the move the actor's devices, so
 * receipts sync, and the senders of the messages it covers (receiptAudience), gathered per turn
 * (receipt-news.ts); other domains' members are told through their nodes.
 */
export async function markReceipt(ctx: NodeContext, kind: 'read' | 'delivered', input: unknown): Promise<Receipt> {
  const { conversationId, seq } = parseInput(receiptSchema, input);
  await assertMember(ctx, conversationId);
  const move = await ctx.receipts.mark({ conversationId, address: ctx.actor.address, kind, upTo: seq });
  const receipt = { conversationId, address: ctx.actor.address, ...move.after };
  if (move.after.readSeq === move.before.readSeq && move.after.deliveredSeq === move.before.deliveredSeq)
    return receipt;
  const members = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  // The device that asked has the answer; the rest of the audience is told (node/receipts/receipt-news.ts).
  await ctx.receiptNews.tell(
    receipt,
    receiptAudience(ctx.domain, ctx.actor.address, move.senders, members),
    ctx.connectionId,
  );
  await ctx.federation.delivery.shareReceipt(receipt);
  return receipt;
}
