import { Op, QueryTypes } from 'sequelize';
import type { NodeContext } from '../context.ts';
import type { Conversation } from '../models.ts';
import { presentConversation, type PresentedConversation } from './present-conversation.ts';

/** Messages from others after the actor's read position, per conversation (one query for all). */
async function unreadCounts(ctx: NodeContext, conversationIds: string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await ctx.sequelize.query<{ conversation_id: string; unread: number | string }>(
    `SELECT m.conversation_id AS conversation_id, COUNT(*) AS unread
       FROM messages m
       JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.address = :me
      WHERE m.conversation_id IN (:ids) AND m.seq > mb.read_seq AND m.sender <> :me
        AND m.kind IN ('text', 'card') AND m.recalled_at IS NULL
      GROUP BY m.conversation_id`,
    { replacements: { me: ctx.actor.address, ids: conversationIds }, type: QueryTypes.SELECT },
  );
  return new Map(rows.map((r) => [r.conversation_id, Number(r.unread)]));
}

/** Presents conversations as the actor sees them: members, their receipts, the actor's unread count. */
export async function presentForActor(ctx: NodeContext, conversations: Conversation[]): Promise<PresentedConversation[]> {
  const ids = conversations.map((c) => c.id);
  if (ids.length === 0) return [];
  const [members, unread] = await Promise.all([
    ctx.models.Member.findAll({ where: { conversationId: { [Op.in]: ids } } }),
    unreadCounts(ctx, ids),
  ]);
  return conversations.map((c) =>
    presentConversation(c, members.filter((m) => m.conversationId === c.id), ctx.actor.address, unread.get(c.id) ?? 0),
  );
}

/** The actor's conversations, most recently active first, optionally only those changed after `since`. */
export async function listConversations(ctx: NodeContext, since?: Date): Promise<PresentedConversation[]> {
  const { Conversation, Member } = ctx.models;
  const memberships = await Member.findAll({ where: { address: ctx.actor.address, state: 'active' }, attributes: ['conversationId'] });
  if (memberships.length === 0) return [];
  const conversations = await Conversation.findAll({
    where: {
      id: { [Op.in]: memberships.map((m) => m.conversationId) },
      ...(since ? { updatedAt: { [Op.gt]: since } } : {}),
    },
    order: [['updatedAt', 'DESC']],
  });
  return presentForActor(ctx, conversations);
}
