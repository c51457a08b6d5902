import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { announceGroup, appendGroupEvent, groupTitleSchema, requireGroup, requireRole } from './group-change.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';

const renameSchema = z.object({ conversationId: z.string().uuid(), title: groupTitleSchema });

/** Renames a group (owner or admin); renaming to the current title changes nothing and appends nothing. */
export async function renameGroup(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId, title } = parseInput(renameSchema, input);
  const { conversation, member } = await requireGroup(ctx, conversationId);
  requireRole(member, ['owner', 'admin'], 'Only the owner or an admin can rename the group');
  if (conversation.title === title) return (await presentForActor(ctx, [conversation]))[0]!;
  await appendGroupEvent(ctx, conversationId, { event: 'group.renamed', title, by: ctx.actor.address }, async (tx) => {
    await ctx.models.Conversation.update({ title }, { where: { id: conversationId }, transaction: tx });
  });
  return announceGroup(ctx, conversationId);
}
