import { Op, QueryTypes } from 'sequelize';
import type { NodeContext } from '../context.ts';
import type { Conversation } from '../models.ts';
import { presentConversation, type PresentedConversation } from './present-conversation.ts';

const unreadKey = (conversationId: string, viewer: string) => `${conversationId}\n${viewer}`;

/**
 * Messages from others after each viewer's read position, per conversation and viewer (one query for
 * all). Only what a viewer can see counts: nothing from before they joined, nothing where they are not
 * an active member.
 */
async function unreadCounts(ctx: NodeContext, conversationIds: string[], viewers: string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0 || viewers.length === 0) return new Map();
  const rows = await ctx.sequelize.query<{ conversation_id: string; address: string; unread: number | string }>(
    `SELECT m.conversation_id AS conversation_id, mb.address AS address, COUNT(*) AS unread
       FROM messages m
       JOIN members mb ON mb.conversation_id = m.conversation_id
      WHERE m.conversation_id IN (:ids) AND mb.address IN (:viewers) AND mb.state = 'active'
        AND m.seq > mb.read_seq AND m.seq > mb.joined_seq AND m.sender <> mb.address
        AND m.kind IN ('text', 'card') AND m.recalled_at IS NULL
      GROUP BY m.conversation_id, mb.address`,
    { replacements: { ids: conversationIds, viewers }, type: QueryTypes.SELECT },
  );
  return new Map(rows.map((r) => [unreadKey(r.conversation_id, r.address), Number(r.unread)]));
}

/** Presents conversations as the actor sees them: members, their receipts, the actor's unread count. */
export async function presentForActor(ctx: NodeContext, conversations: Conversation[]): Promise<PresentedConversation[]> {
  const ids = conversations.map((c) => c.id);
  if (ids.length === 0) return [];
  const me = ctx.actor.address;
  const [members, unread] = await Promise.all([
    ctx.models.Member.findAll({ where: { conversationId: { [Op.in]: ids } } }),
    unreadCounts(ctx, ids, [me]),
  ]);
  return conversations.map((c) =>
    presentConversation(c, members.filter((m) => m.conversationId === c.id), me, unread.get(unreadKey(c.id, me)) ?? 0),
  );
}

/** Presents one conversation as each of several viewers sees it, reading it once. */
export async function presentForViewers(ctx: NodeContext, conversationId: string, viewers: string[]): Promise<Map<string, PresentedConversation>> {
  const out = new Map<string, PresentedConversation>();
  const [conversation, members, unread] = await Promise.all([
    ctx.models.Conversation.findByPk(conversationId),
    ctx.models.Member.findAll({ where: { conversationId } }),
    unreadCounts(ctx, [conversationId], viewers),
  ]);
  if (!conversation) return out;
  for (const viewer of viewers) {
    out.set(viewer, presentConversation(conversation, members, viewer, unread.get(unreadKey(conversationId, viewer)) ?? 0));
  }
  return out;
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
