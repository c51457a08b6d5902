import { Op } from 'sequelize';
import { AppError, NotFoundError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { Conversation, Member } from '../models.ts';

export class NotMemberError extends AppError {
  constructor() {
    super('not_member', 403, 'You are not a member of this conversation');
  }
}

/** The conversation and the actor's active membership in it; anything else is refused the same way. */
export async function requireMember(ctx: NodeContext, conversationId: string): Promise<{ conversation: Conversation; member: Member }> {
  const { Conversation, Member } = ctx.models;
  const [conversation, member] = await Promise.all([
    Conversation.findByPk(conversationId),
    Member.findOne({ where: { conversationId, address: ctx.actor.address, state: 'active' } }),
  ]);
  if (!conversation) throw new NotFoundError('No such conversation');
  if (!member) throw new NotMemberError();
  return { conversation, member };
}

/** Active member addresses of several conversations at once. */
export async function activeMembersOf(ctx: Pick<NodeContext, 'models'>, conversationIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(conversationIds.map((id) => [id, []]));
  if (conversationIds.length === 0) return out;
  const rows = await ctx.models.Member.findAll({
    where: { conversationId: { [Op.in]: conversationIds }, state: 'active' },
    attributes: ['conversationId', 'address'],
  });
  for (const row of rows) out.get(row.conversationId)!.push(row.address);
  return out;
}
