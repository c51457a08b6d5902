import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../address.ts';
import type { NodeContext } from '../context.ts';
import { announceGroup, appendGroupEvent, groupTitleSchema, MAX_GROUP_MEMBERS, requireDistinct, requireRoomFor } from './group-change.ts';
import { membershipChanged } from './membership.ts';
import type { PresentedConversation } from './present-conversation.ts';

const createSchema = z.object({
  title: groupTitleSchema,
  members: z.array(addressSchema).max(MAX_GROUP_MEMBERS, { message: `at most ${MAX_GROUP_MEMBERS} members` }),
});

/**
 * Creates a group homed on this domain with the actor as owner and the given people (of any domain) as
 * members, all from the first entry on. If the opening entry cannot be stored the group is removed
 * again, so a failed create leaves nothing behind.
 */
export async function createGroup(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const data = parseInput(createSchema, input);
  const me = ctx.actor.address;
  requireDistinct(data.members);
  const others = data.members.filter((a) => a !== me);
  requireRoomFor(others.length + 1);
  await ctx.federation.assertAllowedAmong([ctx.actor.address, ...others]);

  const { Conversation, Member } = ctx.models;
  const id = randomUUID();
  await ctx.sequelize.transaction(async (tx) => {
    await Conversation.create({ id, kind: 'group', homeDomain: ctx.domain, title: data.title, directKey: null, createdBy: me }, { transaction: tx });
    await Member.bulkCreate(
      [
        { conversationId: id, address: me, role: 'owner' as const, state: 'active' as const },
        ...others.map((address) => ({ conversationId: id, address, role: 'member' as const, state: 'active' as const })),
      ],
      { transaction: tx },
    );
  });
  try {
    await appendGroupEvent(ctx, id, { event: 'group.created', title: data.title, members: [me, ...others], by: me });
  } catch (error) {
    await ctx.sequelize.transaction(async (tx) => {
      await Member.destroy({ where: { conversationId: id }, transaction: tx });
      await Conversation.destroy({ where: { id }, transaction: tx });
    });
    await membershipChanged(ctx, id).catch((err: unknown) => ctx.logger.warn({ err, conversationId: id }, 'membership event not published'));
    throw error;
  }
  return announceGroup(ctx, id);
}
