import type { Transaction } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import {
  announceGroup,
  appendGroupEvent,
  groupTitleSchema,
  NothingToChangeError,
  recheckActor,
  requireGroup,
  type GroupEvent,
} from './group-change.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';

const renameSchema = z.object({ conversationId: z.string().uuid(), title: groupTitleSchema });

/** Renames a group (owner or admin); renaming to the current title changes nothing and appends nothing. */
export async function renameGroup(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, title } = parseInput(renameSchema, input);
  const { conversation } = await requireGroup(ctx, conversationId);
  const decide = async (tx: Transaction): Promise<GroupEvent> => {
    await recheckActor(ctx, tx, conversationId, ['owner', 'admin'], 'Only the owner or an admin can rename the group');
    const now = await ctx.models.Conversation.findByPk(conversationId, { lock: tx.LOCK.UPDATE, transaction: tx });
    if (now?.title === title) throw new NothingToChangeError();
    return { event: 'group.renamed', title, by: ctx.actor.address };
  };
  try {
    await appendGroupEvent(ctx, conversationId, decide, async (tx) => {
      await ctx.models.Conversation.update({ title }, { where: { id: conversationId }, transaction: tx });
    });
  } catch (error) {
    if (error instanceof NothingToChangeError) return (await presentForActor(ctx, [conversation]))[0]!;
    throw error;
  }
  return announceGroup(ctx, conversationId);
}
