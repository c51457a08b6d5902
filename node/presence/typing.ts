import { domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { activeMembersOf, assertMember } from '../conversations/membership.ts';
import { serverFrame } from '../../protocol/frames.ts';

/**
 * Tells the other members' devices that the actor is typing; ephemeral, never stored. Membership is
 * checked against the member cache: typing is frequent, and needs no database round trip.
 */
export async function announceTyping(ctx: NodeContext, conversationId: string): Promise<void> {
  await assertMember(ctx, conversationId);
  const members = (await activeMembersOf(ctx, [conversationId])).get(conversationId) ?? [];
  ctx.federation.home.shareTyping(conversationId, ctx.actor.address, members);
  const recipients = members.filter((a) => a !== ctx.actor.address && domainOf(a) === ctx.domain);
  if (recipients.length === 0) return;
  await ctx.bus.publish({
    kind: 'deliver',
    recipients,
    frame: serverFrame('typing', { conversationId, address: ctx.actor.address }),
  });
}
