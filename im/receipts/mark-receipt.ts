import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { activeMembersOf, requireMember } from '../conversations/membership.ts';
import { serverFrame } from '../protocol/frames.ts';
import { receiptRecipients } from './receipt-recipients.ts';

const receiptSchema = z.object({ conversationId: z.string().uuid(), seq: z.number().int().min(0) });

export type Receipt = { conversationId: string; address: string; readSeq: number; deliveredSeq: number };

/**
 * Moves the actor's delivered (and, for `read`, read) position forward — never back, never past the
 * conversation's end — and tells the actor's devices, so receipts sync, and the senders of the messages
 * the move covers (see receiptRecipients); other domains' members are told through their nodes.
 */
export async function markReceipt(ctx: NodeContext, kind: 'read' | 'delivered', input: unknown): Promise<Receipt> {
  const { conversationId, seq } = parseInput(receiptSchema, input);
  const { conversation, member } = await requireMember(ctx, conversationId);
  // Never past the end of the conversation as this node knows it; a copy of a conversation hosted
  // elsewhere may lag behind its home (the reader's own message acked there, not yet replicated), so
  // there the home's position is taken on trust and checked by the home.
  const upTo = conversation.homeDomain === ctx.domain ? Math.min(seq, conversation.lastSeq) : seq;
  const before = { readSeq: member.readSeq, deliveredSeq: member.deliveredSeq };
  if (before.deliveredSeq >= upTo && (kind === 'delivered' || before.readSeq >= upTo)) {
    return { conversationId, address: ctx.actor.address, ...before };
  }
  const { Member } = ctx.models;
  const raise = (column: string) => ctx.sequelize.literal(`CASE WHEN ${column} < ${upTo} THEN ${upTo} ELSE ${column} END`);
  // Only ever forward, even when two devices report at once: the comparison happens in the database.
  await Member.update(
    kind === 'read' ? { readSeq: raise('read_seq'), deliveredSeq: raise('delivered_seq') } : { deliveredSeq: raise('delivered_seq') },
    { where: { conversationId, address: ctx.actor.address } } as never,
  );
  await member.reload();
  const receipt = { conversationId, address: ctx.actor.address, readSeq: member.readSeq, deliveredSeq: member.deliveredSeq };
  const members = (await activeMembersOf(ctx, [conversationId])).get(conversationId) ?? [];
  const recipients = await receiptRecipients(ctx, conversationId, ctx.actor.address, before, receipt, members);
  await ctx.bus.publish({ kind: 'deliver', recipients, frame: serverFrame('receipt', receipt) });
  await ctx.federation.shareReceipt(receipt);
  return receipt;
}
