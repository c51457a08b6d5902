import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../address.ts';
import type { NodeContext } from '../context.ts';
import { announceGroup, appendGroupEvent, requireGroup, requireOtherMember, requireRole } from './group-change.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';

// A group has exactly one owner; it changes hands only when the owner leaves.
const roleSchema = z.object({ conversationId: z.string().uuid(), member: addressSchema, role: z.enum(['admin', 'member']) });

/** The owner makes a member an admin or an admin a member again; setting the current role changes nothing. */
export async function setRole(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, member: address, role } = parseInput(roleSchema, input);
  const { conversation, member } = await requireGroup(ctx, conversationId);
  requireRole(member, ['owner'], 'Only the owner can change roles');
  const target = await requireOtherMember(ctx, conversationId, address);
  if (target.role === role) return (await presentForActor(ctx, [conversation]))[0]!;
  await appendGroupEvent(ctx, conversationId, { event: 'member.role', members: [address], role, by: ctx.actor.address }, async (tx) => {
    await ctx.models.Member.update({ role }, { where: { conversationId, address, state: 'active' }, transaction: tx });
  });
  return announceGroup(ctx, conversationId);
}
