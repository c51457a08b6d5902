import { z } from 'zod';
import { ForbiddenError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../address.ts';
import type { NodeContext } from '../context.ts';
import { announceGroup, appendGroupEvent, endMembership, requireGroup, requireOtherMember, requireRole } from './group-change.ts';
import type { PresentedConversation } from './present-conversation.ts';

const removeSchema = z.object({ conversationId: z.string().uuid(), member: addressSchema });

/** Removes someone from a group: the owner may remove anyone, an admin only plain members. */
export async function removeMember(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, member: address } = parseInput(removeSchema, input);
  const { member } = await requireGroup(ctx, conversationId);
  requireRole(member, ['owner', 'admin'], 'Only the owner or an admin can remove people');
  const target = await requireOtherMember(ctx, conversationId, address);
  if (member.role === 'admin' && target.role !== 'member') throw new ForbiddenError('Admins can remove members only');
  await appendGroupEvent(ctx, conversationId, { event: 'member.removed', members: [address], by: ctx.actor.address }, (tx) =>
    endMembership(ctx, tx, conversationId, address, 'removed'),
  );
  return announceGroup(ctx, conversationId, [address]);
}
