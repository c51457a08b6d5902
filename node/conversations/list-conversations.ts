import { Op, QueryTypes } from 'sequelize';
import type { NodeContext } from '../context.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Conversation, Member } from '../models.ts';
import { presentConversation, presentFor, presentMembers, type PresentedConversation } from './present-conversation.ts';

const unreadKey = (conversationId: string, viewer: string) => `${conversationId}\n${viewer}`;

/**
 * Messages from others after each viewer's read position, per conversation and viewer (one query for
 * all). Only what a viewer can see counts: nothing from before they joined, nothing where they are not
 * an active member.
 */
async function unreadCounts(
  ctx: NodeContext,
  conversationIds: string[],
  viewers: string[],
): Promise<Map<string, number>> {
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

/** Conversations per statement of the actor's unread counts. */
const UNREAD_PER_QUERY = 100;

/**
 * The actor's unread count in each conversation: messages from others after their read position (and
 * their join). Each conversation's position goes into the statement as a constant, so that each count
 * is a bounded scan of the (conversation_id, seq) primary key over the unread entries alone: joined to
 * the positions, MariaDB read every entry of every conversation, and a first sync took longer the
 * longer the histories were.
 */
async function actorUnread(ctx: NodeContext, mine: Member[]): Promise<Map<string, number>> {
  const positions = mine.filter((m) => m.state === 'active');
  const out = new Map<string, number>();
  for (let i = 0; i < positions.length; i += UNREAD_PER_QUERY) {
    const chunk = positions.slice(i, i + UNREAD_PER_QUERY);
    const rows = await ctx.sequelize.query<{ conversation_id: string; unread: number | string }>(
      `SELECT conversation_id, COUNT(*) AS unread
         FROM messages
        WHERE (${chunk.map(() => '(conversation_id = ? AND seq > ?)').join(' OR ')})
          AND sender <> ? AND kind IN ('text', 'card') AND recalled_at IS NULL
        GROUP BY conversation_id`,
      {
        replacements: [
          ...chunk.flatMap((m) => [m.conversationId, Math.max(m.readSeq, m.joinedSeq)]),
          ctx.actor.address,
        ],
        type: QueryTypes.SELECT,
      },
    );
    for (const r of rows) out.set(r.conversation_id, Number(r.unread));
  }
  return out;
}

/** Presents conversations as the actor sees them: members, their receipts, the actor's unread count. */
export async function presentForActor(
  ctx: NodeContext,
  conversations: Conversation[],
): Promise<PresentedConversation[]> {
  const ids = conversations.map((c) => c.id);
  if (ids.length === 0) return [];
  const me = ctx.actor.address;
  const members = await ctx.models.Member.findAll({ where: { conversationId: { [Op.in]: ids } } });
  const unread = await actorUnread(
    ctx,
    members.filter((m) => m.address === me),
  );
  const byConversation = new Map<string, Member[]>();
  for (const m of members) {
    const list = byConversation.get(m.conversationId);
    if (list) list.push(m);
    else byConversation.set(m.conversationId, [m]);
  }
  return conversations.map((c) => presentConversation(c, byConversation.get(c.id) ?? [], me, unread.get(c.id) ?? 0));
}

const FRAMES_PER_SLICE = 200;

/**
 * The `conversation` frame for each viewer, as JSON text, and each viewer's view. The member list (most
 * of the frame for a big group, and the same for everyone) is presented and serialized once and each
 * viewer's own fields are put around it: telling N members of a change costs O(N), not O(N²) — 3,000
 * members' frames used to take the node seconds to build (bench:node). Viewers go in slices, so that a
 * big group does not hold up everything else on the node meanwhile.
 */
export async function presentConversationFrames(
  ctx: NodeContext,
  conversationId: string,
  viewers: string[],
): Promise<Map<string, { view: PresentedConversation; frame: string }>> {
  const out = new Map<string, { view: PresentedConversation; frame: string }>();
  const [conversation, members, unread] = await Promise.all([
    ctx.models.Conversation.findByPk(conversationId),
    ctx.models.Member.findAll({ where: { conversationId } }),
    unreadCounts(ctx, [conversationId], viewers),
  ]);
  if (!conversation) return out;
  const shared = presentMembers(members);
  const sharedJson = JSON.stringify(shared);
  const byAddress = new Map(members.map((m) => [m.address, m]));
  for (let i = 0; i < viewers.length; i++) {
    if (i > 0 && i % FRAMES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const viewer = viewers[i]!;
    const view = presentFor(
      conversation,
      shared,
      byAddress.get(viewer),
      unread.get(unreadKey(conversationId, viewer)) ?? 0,
    );
    // `members` is the view's last field: serialized without it, the shared list goes in its place.
    const head = JSON.stringify(serverFrame('conversation', { conversation: { ...view, members: [] } }));
    const at = head.lastIndexOf('[]');
    out.set(viewer, { view, frame: `${head.slice(0, at)}${sharedJson}${head.slice(at + 2)}` });
  }
  return out;
}

/** The actor's conversations, most recently active first, optionally only those changed after `since`. */
export async function listConversations(ctx: NodeContext, since?: Date): Promise<PresentedConversation[]> {
  const { Conversation, Member } = ctx.models;
  const memberships = await Member.findAll({
    where: { address: ctx.actor.address, state: 'active' },
    attributes: ['conversationId'],
  });
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
