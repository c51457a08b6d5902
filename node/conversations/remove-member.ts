import type { Transaction } from 'sequelize';
import { z } from 'zod';
import { ForbiddenError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import {
  announceGroup,
  appendGroupEvent,
  endMembership,
  recheckActor,
  recheckOtherMember,
  requireGroup,
  type GroupEvent,
} from './group-change.ts';
import type { PresentedConversation } from './present-conversation.ts';

const removeSchema = z.object({ conversationId: z.string().uuid(), member: addressSchema });

/** Removes someone from a group: the owner may remove anyone, an admin only plain members. */
export async function removeMember(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, member: address } = parseInput(removeSchema, input);
  await requireGroup(ctx, conversationId);
  const decide = async (tx: Transaction): Promise<GroupEvent> => {
    const member = await recheckActor(
      ctx,
      tx,
      conversationId,
      ['owner', 'admin'],
      'Only the owner or an admin can remove people',
    );
    const target = await recheckOtherMember(ctx, tx, conversationId, address);
    if (member.role === 'admin' && target.role !== 'member') throw new ForbiddenError('Admins can remove members only');
    return { event: 'member.removed', members: [address], by: ctx.actor.address };
  };
  await appendGroupEvent(ctx, conversationId, decide, (tx) =>
    endMembership(ctx, tx, conversationId, address, 'removed'),
  );
  return announceGroup(ctx, conversationId, [address]);
}
