import { Op, type Transaction } from 'sequelize';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import {
  announceGroup,
  appendGroupEvent,
  joinMembers,
  MAX_GROUP_MEMBERS,
  namedInEntry,
  recheckActor,
  requireDistinct,
  requireGroup,
  requireRole,
  requireRoomFor,
  type GroupEvent,
} from './group-change.ts';
import type { PresentedConversation } from './present-conversation.ts';

const inviteSchema = z.object({
  conversationId: z.string().uuid(),
  members: z.array(addressSchema).min(1, { message: 'invite at least one person' }).max(MAX_GROUP_MEMBERS),
});

/**
 * Adds people (of any domain, each known to their domain) to a group (owner or admin). People who left
 * or were removed come back as members who see the group from now on, not what was said while they were
 * away.
 */
export async function inviteMembers(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, members } = parseInput(inviteSchema, input);
  const { member } = await requireGroup(ctx, conversationId);
  // Checked again under the lock below; here it keeps people who may not invite from probing addresses.
  requireRole(member, ['owner', 'admin'], 'Only the owner or an admin can invite people');
  requireDistinct(members);
  const current = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  await ctx.federation.policy.assertAllowedAmong([...current, ...members]);
  await ctx.addresses.assertKnown(
    members.filter((a) => !current.has(a)),
    'members',
  );
  const { Member } = ctx.models;
  const decide = async (tx: Transaction): Promise<GroupEvent> => {
    await recheckActor(ctx, tx, conversationId, ['owner', 'admin'], 'Only the owner or an admin can invite people');
    const already = await Member.findAll({
      where: { conversationId, address: { [Op.in]: members }, state: 'active' },
      attributes: ['address'],
      lock: tx.LOCK.UPDATE,
      transaction: tx,
    });
    if (already.length > 0) {
      throw new ValidationError('Some of these people are already members', {
        members: `already members: ${already.map((m) => m.address).join(', ')}`,
      });
    }
    const size = (await Member.count({ where: { conversationId, state: 'active' }, transaction: tx })) + members.length;
    requireRoomFor(size);
    return { event: 'member.joined', ...namedInEntry(members, size, ctx.config.viewMembersMax), by: ctx.actor.address };
  };
  await appendGroupEvent(ctx, conversationId, decide, (tx, stored) => joinMembers(ctx, tx, stored, members));
  return announceGroup(ctx, conversationId, members);
}
