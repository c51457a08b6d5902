import { Op, type Transaction } from 'sequelize';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../../protocol/address.ts';
import { appOfBot, remoteBotName } from './bot-members.ts';
import type { NodeContext } from '../context.ts';
import {
  announceGroup,
  appendGroupEvent,
  NothingToChangeError,
  recheckActor,
  recheckOtherMember,
  requireGroup,
  type GroupEvent,
} from './group-change.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';
import { revokeCreatorsWebhooks, WEBHOOK_ROLES } from '../webhooks/creator-gone.ts';

// A group has exactly one owner. It changes hands when the owner passes it on (and stays an admin), or
// leaves (leave-group.ts).
const roleSchema = z.object({
  conversationId: z.string().uuid(),
  member: addressSchema,
  role: z.enum(['owner', 'admin', 'member']),
});

/**
 * Refuses to make an app's bot an owner or admin (bot-members.ts): it could never rename the group, manage
 * its members or hand ownership back. A bot of this domain by the gateway's word; a member of another
 * domain by its node's (asked unless remembered: while it cannot be reached, nobody of it changes role).
 */
async function refuseBotInCharge(
  ctx: NodeContext,
  conversationId: string,
  address: string,
  role: 'owner' | 'admin',
): Promise<void> {
  const here = await appOfBot(ctx, address);
  // Only a member's node is asked: an address that is none is refused under the lock as before.
  const member = (await ctx.members.of([conversationId])).get(conversationId)?.has(address) ?? false;
  const name = here ? here.name : member ? await remoteBotName(ctx, address, 'member') : null;
  if (name === null) return;
  const what = role === 'owner' ? 'the owner' : 'an admin';
  throw new ValidationError(`${name} is an app's bot: a bot cannot be ${what} of a group`, {
    member: `an app's bot: it can only be a member`,
  });
}

/**
 * The owner makes a member an admin or an admin a member again, or hands the group to another member
 * and becomes an admin; setting the current role changes nothing. An app's bot stays a member.
 */
export async function setRole(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, member: address, role } = parseInput(roleSchema, input);
  const { conversation } = await requireGroup(ctx, conversationId);
  if (role !== 'member') await refuseBotInCharge(ctx, conversationId, address, role);
  const decide = async (tx: Transaction): Promise<GroupEvent> => {
    await recheckActor(ctx, tx, conversationId, ['owner'], 'Only the owner can change roles');
    const target = await recheckOtherMember(ctx, tx, conversationId, address);
    if (target.role === role) throw new NothingToChangeError();
    return { event: 'member.role', members: [address], role, by: ctx.actor.address };
  };
  const { Member } = ctx.models;
  try {
    await appendGroupEvent(ctx, conversationId, decide, async (tx) => {
      await Member.update({ role }, { where: { conversationId, address, state: 'active' }, transaction: tx });
      // An admin made a plain member manages the group's webhooks no more, and theirs stop.
      if (!WEBHOOK_ROLES.includes(role)) await revokeCreatorsWebhooks(ctx, tx, conversationId, address);
      // The actor is the owner (checked under the lock): handing the group on makes them an admin.
      if (role === 'owner') {
        await Member.update(
          { role: 'admin' },
          { where: { conversationId, role: 'owner', address: { [Op.ne]: address } }, transaction: tx },
        );
      }
    });
  } catch (error) {
    if (error instanceof NothingToChangeError) return (await presentForActor(ctx, [conversation]))[0]!;
    throw error;
  }
  return announceGroup(ctx, conversationId);
}
