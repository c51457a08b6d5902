import { Op } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { listConversations } from '../conversations/list-conversations.ts';
import type { PresentedConversation } from '../conversations/present-conversation.ts';
import { requireMember } from '../conversations/membership.ts';
import { assertMayRead } from '../bots/bot-reads.ts';
import { presentMessage, type PresentedMessage } from './present-message.ts';
import { entriesOf, planSync, type SyncGap } from './sync-pages.ts';

/**
 * Commits from concurrent transactions can become visible slightly out of timestamp order, so a sync
 * looks back this far before its cursor; devices de-duplicate what they already have.
 */
const CURSOR_OVERLAP_MS = 5_000;

const syncSchema = z.object({
  since: z.string().datetime({ offset: true }).optional(),
  cursors: z.record(z.string(), z.number().int().min(0)).optional(),
  limit: z.number().int().min(1).max(500).optional(),
  recent: z.number().int().min(0).max(500).optional(),
  gaps: z.boolean().optional(),
});

/** What a device that holds nothing of a conversation gets of it by sync; older entries come by `history`. */
const RECENT = 50;

export type SyncResult = {
  conversations: PresentedConversation[];
  messages: PresentedMessage[];
  /** Conversations with more messages than this page carried; sync again with updated cursors. */
  more: string[];
  /** Asked for with `gaps`: conversations of which the device got the latest entries, not all it missed. */
  gaps: SyncGap[];
  /** Conversations the device's person left or was removed from since the cursor: drop them. */
  removed: string[];
  cursor: string;
};

/**
 * Catch-up for a (re)connecting device: the conversations changed since its cursor, and in each the
 * entries after the sequence the device already holds, at most `limit` per conversation. Of a
 * conversation it holds nothing of (no cursor: a new device, a new conversation) it gets the last
 * `recent` entries, not the whole history, which it pages back through with `history` when needed;
 * so too, with `gaps`, of one where it missed more than `limit` (see planSync).
 */
export async function sync(ctx: NodeContext, input: unknown): Promise<SyncResult> {
  const { since, cursors = {}, limit = 100, recent = RECENT, gaps = false } = parseInput(syncSchema, input);
  const cursor = new Date().toISOString();
  const changedAfter = since ? new Date(new Date(since).getTime() - CURSOR_OVERLAP_MS) : undefined;
  const conversations = await listConversations(ctx, changedAfter);
  const plan = planSync(conversations, cursors, { limit, recent, gaps });
  const messages = await entriesOf(ctx, plan.ranges);
  const removed = changedAfter
    ? (
        await ctx.models.Member.findAll({
          where: { address: ctx.actor.address, state: { [Op.ne]: 'active' }, updatedAt: { [Op.gt]: changedAfter } },
          attributes: ['conversationId'],
        })
      ).map((m) => m.conversationId)
    : [];
  return { conversations, messages, more: plan.more, gaps: plan.gaps, removed, cursor };
}

const historySchema = z.object({
  conversationId: z.string().uuid(),
  beforeSeq: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(200).optional(),
});

/** Pages backwards through a conversation, newest first, from the actor's join onwards (a bot: where it may read). */
export async function history(
  ctx: NodeContext,
  input: unknown,
): Promise<{ messages: PresentedMessage[]; hasMore: boolean }> {
  const { conversationId, beforeSeq, limit = 50 } = parseInput(historySchema, input);
  const { conversation, member } = await requireMember(ctx, conversationId);
  await assertMayRead(ctx, conversation);
  const rows = await ctx.models.Message.findAll({
    where: {
      conversationId,
      seq: { [Op.gt]: member.joinedSeq, ...(beforeSeq !== undefined ? { [Op.lt]: beforeSeq } : {}) },
    },
    order: [['seq', 'DESC']],
    limit: limit + 1,
  });
  return { messages: rows.slice(0, limit).map(presentMessage), hasMore: rows.length > limit };
}
