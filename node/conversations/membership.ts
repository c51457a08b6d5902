import { AppError, NotFoundError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { Conversation, Member } from '../models.ts';

export class NotMemberError extends AppError {
  constructor() {
    super('not_member', 403, 'You are not a member of this conversation');
  }
}

/** The conversation and the actor's active membership in it; anything else is refused the same way. */
export async function requireMember(
  ctx: NodeContext,
  conversationId: string,
): Promise<{ conversation: Conversation; member: Member }> {
  const { Conversation, Member } = ctx.models;
  const [conversation, member] = await Promise.all([
    Conversation.findByPk(conversationId),
    Member.findOne({ where: { conversationId, address: ctx.actor.address, state: 'active' } }),
  ]);
  if (!conversation) throw new NotFoundError('No such conversation');
  if (!member) throw new NotMemberError();
  return { conversation, member };
}

/** Active member addresses of several conversations at once (from the process's member cache). */
export async function activeMembersOf(
  ctx: Pick<NodeContext, 'members'>,
  conversationIds: string[],
): Promise<Map<string, string[]>> {
  const sets = await ctx.members.of(conversationIds);
  return new Map([...sets].map(([id, members]) => [id, [...members]]));
}

/** The cheap membership check of the send path; refuses like requireMember does. */
export async function assertMember(ctx: NodeContext, conversationId: string): Promise<void> {
  if (!(await ctx.members.isMember(conversationId, ctx.actor.address))) throw new NotMemberError();
}

/** After changing a conversation's members (and committing): every process forgets its cached list. */
export async function membershipChanged(ctx: Pick<NodeContext, 'bus'>, conversationId: string): Promise<void> {
  await ctx.bus.publish({ kind: 'membership', conversationId });
}
