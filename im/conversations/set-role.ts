import { Op } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../address.ts';
import type { NodeContext } from '../context.ts';
import { announceGroup, appendGroupEvent, requireGroup, requireOtherMember, requireRole } from './group-change.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';

// A group has exactly one owner. It changes hands when the owner passes it on (and stays an admin), or
// leaves (leave-group.ts).
const roleSchema = z.object({ conversationId: z.string().uuid(), member: addressSchema, role: z.enum(['owner', 'admin', 'member']) });

/**
 * The owner makes a member an admin or an admin a member again, or hands the group to another member
 * and becomes an admin; setting the current role changes nothing.
 */
export async function setRole(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, member: address, role } = parseInput(roleSchema, input);
  const { conversation, member } = await requireGroup(ctx, conversationId);
  requireRole(member, ['owner'], 'Only the owner can change roles');
  const target = await requireOtherMember(ctx, conversationId, address);
  if (target.role === role) return (await presentForActor(ctx, [conversation]))[0]!;
  const { Member } = ctx.models;
  await appendGroupEvent(ctx, conversationId, { event: 'member.role', members: [address], role, by: ctx.actor.address }, async (tx) => {
    const [changed] = await Member.update({ role }, { where: { conversationId, address, state: 'active' }, transaction: tx });
    // Whoever owns the group when the entry commits (the actor, unless a concurrent change moved it on)
    // becomes an admin, so that there is one owner; a target who left meanwhile takes nothing over.
    if (role === 'owner' && changed > 0) {
      await Member.update({ role: 'admin' }, { where: { conversationId, role: 'owner', address: { [Op.ne]: address } }, transaction: tx });
    }
  });
  return announceGroup(ctx, conversationId);
}
