import type { NodeContext } from '../context.ts';
import { assertMember } from '../conversations/membership.ts';

/**
 * Tells the other members' devices that the actor is typing (collapsed in a big group:
 * typing-news.ts), at most once per interval whichever of their devices types; ephemeral, never stored.
 * Membership is checked against the member cache: typing is frequent, and needs no database round trip.
 */
export async function announceTyping(ctx: NodeContext, conversationId: string): Promise<void> {
  await assertMember(ctx, conversationId);
  if (!ctx.typing.due(conversationId, ctx.actor.address)) return;
  const members = (await ctx.members.of([conversationId])).get(conversationId) ?? new Set<string>();
  ctx.federation.home.shareTyping(conversationId, ctx.actor.address, members);
  await ctx.typing.tell(conversationId, ctx.actor.address, members);
}
