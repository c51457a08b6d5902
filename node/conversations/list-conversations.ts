import { Op, QueryTypes } from 'sequelize';
import { readableByActor } from '../bots/bot-reads.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import { serverFrame } from '../../protocol/frames.ts';
import type { Conversation, Member } from '../models.ts';
import { botNamesFor } from './bot-members.ts';
import {
  listsEveryMember,
  onlyViewer,
  presentFor,
  presentMembers,
  type PresentedConversation,
} from './present-conversation.ts';

const unreadKey = (conversationId: string, viewer: string) => `${conversationId}\n${viewer}`;

/**
 * Whether an entry's body (`m.body`) mentions `address` (an SQL expression: a quoted value or a column):
 * whether its `mentions` list holds it. Bodies are JSON as JSON.stringify writes it, where a quote
 * inside a string is always escaped: `"address"` right after `[`, or between `,` and `,` or `]`, is an
 * element of a list of strings, never part of a text or a key. `mentions` is the only such list in a
 * text or card body (a card's fields, actions and files are lists of objects).
 */
function mentionsSql(address: string): string {
  const element = (before: string, after: string) => `INSTR(m.body, CONCAT('${before}"', ${address}, '"${after}')) > 0`;
  return `(${element('[', '')} OR ${element(',', ',')} OR ${element(',', ']')})`;
}

/** Of a viewer's unread entries in a conversation, how many there are and how many mention them. */
export type UnreadCount = { count: number; mentions: number };
const NONE_UNREAD: UnreadCount = { count: 0, mentions: 0 };

const unreadOf = (row: { unread: number | string; mentions: number | string | null }): UnreadCount => ({
  count: Number(row.unread),
  mentions: Number(row.mentions ?? 0),
});

/**
 * Messages from others after each viewer's read position, per conversation and viewer (one query for
 * all), and of those the ones that mention the viewer. Only what a viewer can see counts: nothing from
 * before they joined, nothing where they are not an active member.
 */
async function unreadCounts(
  ctx: NodeServices,
  conversationIds: string[],
  viewers: string[],
): Promise<Map<string, UnreadCount>> {
  if (conversationIds.length === 0 || viewers.length === 0) return new Map();
  const rows = await ctx.sequelize.query<{
    conversation_id: string;
    address: string;
    unread: number | string;
    mentions: number | string | null;
  }>(
    `SELECT m.conversation_id AS conversation_id, mb.address AS address, COUNT(*) AS unread,
            SUM(CASE WHEN ${mentionsSql('mb.address')} THEN 1 ELSE 0 END) AS mentions
       FROM messages m
       JOIN members mb ON mb.conversation_id = m.conversation_id
      WHERE m.conversation_id IN (:ids) AND mb.address IN (:viewers) AND mb.state = 'active'
        AND m.seq > mb.read_seq AND m.seq > mb.joined_seq AND m.sender <> mb.address
        AND m.kind IN ('text', 'card') AND m.recalled_at IS NULL
      GROUP BY m.conversation_id, mb.address`,
    { replacements: { ids: conversationIds, viewers }, type: QueryTypes.SELECT },
  );
  return new Map(rows.map((r) => [unreadKey(r.conversation_id, r.address), unreadOf(r)]));
}

/** Conversations per statement of the actor's unread counts. */
const UNREAD_PER_QUERY = 100;

/**
 * The actor's unread count in each conversation: messages from others after their read position (and
 * their join), and how many of them mention the actor. Each conversation's position goes into the
 * statement as a constant, so that each count is a bounded scan of the (conversation_id, seq) primary
 * key over the unread entries alone: joined to the positions, MariaDB read every entry of every
 * conversation, and a first sync took longer the longer the histories were.
 */
async function actorUnread(ctx: NodeContext, mine: Member[]): Promise<Map<string, UnreadCount>> {
  const positions = mine.filter((m) => m.state === 'active');
  const out = new Map<string, UnreadCount>();
  for (let i = 0; i < positions.length; i += UNREAD_PER_QUERY) {
    const chunk = positions.slice(i, i + UNREAD_PER_QUERY);
    const rows = await ctx.sequelize.query<{
      conversation_id: string;
      unread: number | string;
      mentions: number | string | null;
    }>(
      `SELECT m.conversation_id AS conversation_id, COUNT(*) AS unread,
              SUM(CASE WHEN ${mentionsSql(ctx.sequelize.escape(ctx.actor.address))} THEN 1 ELSE 0 END) AS mentions
         FROM messages m
        WHERE (${chunk.map(() => '(m.conversation_id = ? AND m.seq > ?)').join(' OR ')})
          AND m.sender <> ? AND m.kind IN ('text', 'card') AND m.recalled_at IS NULL
        GROUP BY m.conversation_id`,
      {
        replacements: [
          ...chunk.flatMap((m) => [m.conversationId, Math.max(m.readSeq, m.joinedSeq)]),
          ctx.actor.address,
        ],
        type: QueryTypes.SELECT,
      },
    );
    for (const r of rows) out.set(r.conversation_id, unreadOf(r));
  }
  return out;
}

/** Active members per conversation (one query for all); a conversation without any is left out. */
export async function memberCounts(ctx: NodeServices, conversationIds: string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await ctx.sequelize.query<{ conversation_id: string; n: number | string }>(
    `SELECT conversation_id, COUNT(*) AS n FROM members
      WHERE conversation_id IN (:ids) AND state = 'active' GROUP BY conversation_id`,
    { replacements: { ids: conversationIds }, type: QueryTypes.SELECT },
  );
  return new Map(rows.map((r) => [r.conversation_id, Number(r.n)]));
}

/**
 * The member rows a set of views needs: every member of the conversations whose views list them all,
 * and of the others only the rows of `viewers` (see listsEveryMember). A big group's 10,000 rows are
 * then not read for a sync or a reply at all.
 */
async function rowsForViews(
  ctx: NodeServices,
  counts: Map<string, number>,
  conversationIds: string[],
  viewers: string[],
): Promise<Member[]> {
  const max = ctx.config.viewMembersMax;
  const whole = conversationIds.filter((id) => listsEveryMember(counts.get(id) ?? 0, max));
  const big = conversationIds.filter((id) => !listsEveryMember(counts.get(id) ?? 0, max));
  const { Member: Members } = ctx.models;
  const [all, own] = await Promise.all([
    whole.length > 0 ? Members.findAll({ where: { conversationId: { [Op.in]: whole } } }) : [],
    big.length > 0 && viewers.length > 0
      ? Members.findAll({ where: { conversationId: { [Op.in]: big }, address: { [Op.in]: viewers } } })
      : [],
  ]);
  return [...all, ...own];
}

/** Presents conversations as the actor sees them: members (or, of a big group, the count), receipts, unread. */
export async function presentForActor(
  ctx: NodeContext,
  conversations: Conversation[],
): Promise<PresentedConversation[]> {
  const ids = conversations.map((c) => c.id);
  if (ids.length === 0) return [];
  const me = ctx.actor.address;
  const [counts, botName] = await Promise.all([memberCounts(ctx, ids), botNamesFor(ctx)]);
  const rows = await rowsForViews(ctx, counts, ids, [me]);
  const unread = await actorUnread(
    ctx,
    rows.filter((m) => m.address === me),
  );
  const byConversation = new Map<string, Member[]>();
  for (const m of rows) {
    const list = byConversation.get(m.conversationId);
    if (list) list.push(m);
    else byConversation.set(m.conversationId, [m]);
  }
  return conversations.map((c) => {
    const members = byConversation.get(c.id) ?? [];
    const count = counts.get(c.id) ?? 0;
    const mine = members.find((m) => m.address === me);
    const listed = listsEveryMember(count, ctx.config.viewMembersMax)
      ? presentMembers(members, botName)
      : onlyViewer(mine, botName);
    return presentFor(c, listed, mine, unread.get(c.id) ?? NONE_UNREAD, count);
  });
}

const FRAMES_PER_SLICE = 200;

/**
 * The `conversation` frame for each viewer, as JSON text, and each viewer's view. When the view lists
 * every member, the list (most of the frame, and the same for everyone) is presented and serialized once
 * and each viewer's own fields are put around it: telling N members of a change costs O(N), not O(N²).
 * A big group's view lists only its viewer, so its frames are small and built one by one. Viewers go in
 * slices, so that a big group does not hold up everything else on the node meanwhile.
 */
export async function presentConversationFrames(
  ctx: NodeServices,
  conversationId: string,
  viewers: string[],
): Promise<Map<string, { view: PresentedConversation; frame: string }>> {
  const out = new Map<string, { view: PresentedConversation; frame: string }>();
  const [conversation, counts, unread, botName] = await Promise.all([
    ctx.models.Conversation.findByPk(conversationId),
    memberCounts(ctx, [conversationId]),
    unreadCounts(ctx, [conversationId], viewers),
    botNamesFor(ctx),
  ]);
  if (!conversation) return out;
  const count = counts.get(conversationId) ?? 0;
  const whole = listsEveryMember(count, ctx.config.viewMembersMax);
  const members = await rowsForViews(ctx, counts, [conversationId], viewers);
  const shared = whole ? presentMembers(members, botName) : [];
  const sharedJson = JSON.stringify(shared);
  const byAddress = new Map(members.map((m) => [m.address, m]));
  for (let i = 0; i < viewers.length; i++) {
    if (i > 0 && i % FRAMES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const viewer = viewers[i]!;
    const mine = byAddress.get(viewer);
    const unreadHere = unread.get(unreadKey(conversationId, viewer)) ?? NONE_UNREAD;
    if (!whole) {
      const view = presentFor(conversation, onlyViewer(mine, botName), mine, unreadHere, count);
      out.set(viewer, { view, frame: JSON.stringify(serverFrame('conversation', { conversation: view })) });
      continue;
    }
    const view = presentFor(conversation, shared, mine, unreadHere, count);
    // `members` is the view's last field: serialized without it, the shared list goes in its place.
    const head = JSON.stringify(serverFrame('conversation', { conversation: { ...view, members: [] } }));
    const at = head.lastIndexOf('[]');
    out.set(viewer, { view, frame: `${head.slice(0, at)}${sharedJson}${head.slice(at + 2)}` });
  }
  return out;
}

/**
 * The actor's conversations, most recently active first, optionally only those changed after `since`; of a
 * bot's, those it may still read (node/bots/bot-reads.ts).
 */
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
  return presentForActor(ctx, await readableByActor(ctx, conversations));
}
