import { Op } from 'sequelize';
import { z } from 'zod';
import { startsWith } from '../../core/like.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../../protocol/address.ts';
import { memberQuerySchema } from '../../protocol/client-frames.ts';
import type { MembersPage } from '../../protocol/frames.ts';
import type { NodeContext } from '../context.ts';
import { memberCounts } from './list-conversations.ts';
import { requireMember } from './membership.ts';
import { assertMayRead } from '../bots/bot-reads.ts';
import { presentMember } from './present-conversation.ts';
import { botNamesFor } from './bot-members.ts';

const DEFAULT_LIMIT = 500;

const pageSchema = z.object({
  conversationId: z.string().uuid({ message: 'a conversation id' }),
  after: addressSchema.optional(),
  limit: z.coerce
    .number({ message: 'a number' })
    .int({ message: 'a whole number' })
    .min(1, { message: 'at least 1' })
    .max(1000, { message: 'at most 1000' })
    .optional(),
  query: memberQuerySchema.optional(),
});

/**
 * A page of a conversation's active members, in address order, after `after` (a keyset on the members'
 * primary key, so a page costs the same wherever it is). Only its active members may read it
 * (`not_member`), and a bot only where it may read (node/bots/bot-reads.ts). A big group's views list only
 * their viewer (VIEW_MEMBERS_MAX): this is how a device reads the rest, page by page, when it needs them.
 * With `query`, only the members whose address starts with it (what someone typed after "@": a username's
 * start), read as text, never as a pattern, through the members' primary key: a 10,000-member group is
 * searched as it is typed, not sent to the device.
 * `memberCount` counts all of them, whatever the query.
 */
export async function listMembers(ctx: NodeContext, input: unknown): Promise<MembersPage> {
  const { conversationId, after, limit = DEFAULT_LIMIT, query } = parseInput(pageSchema, input);
  await assertMayRead(ctx, (await requireMember(ctx, conversationId)).conversation);
  const address = [...(after ? [{ [Op.gt]: after }] : []), ...(query ? [startsWith(ctx.sequelize, query)] : [])];
  const [rows, counts, botName] = await Promise.all([
    ctx.models.Member.findAll({
      where: { conversationId, state: 'active', ...(address.length > 0 ? { address: { [Op.and]: address } } : {}) },
      order: [['address', 'ASC']],
      limit: limit + 1,
    }),
    memberCounts(ctx, [conversationId]),
    botNamesFor(ctx),
  ]);
  const page = rows.slice(0, limit);
  return {
    conversationId,
    memberCount: counts.get(conversationId) ?? 0,
    members: page.map((m) => presentMember(m, botName)),
    next: rows.length > limit ? page.at(-1)!.address : null,
  };
}
