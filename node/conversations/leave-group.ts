import { randomUUID } from 'node:crypto';
import { Op, type Transaction } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import type { MemberRole } from '../models.ts';
import {
  announceGroup,
  appendGroupEvent,
  endMembership,
  recheckActor,
  requireGroup,
  type GroupEvent,
} from './group-change.ts';
import type { PresentedConversation } from './present-conversation.ts';
import { assertMember } from './membership.ts';
import { presentForActor } from './list-conversations.ts';
import { appOfBot } from './bot-members.ts';

const leaveSchema = z.object({ conversationId: z.string().uuid() });

const SUCCESSION_ORDER: [string, 'ASC'][] = [
  ['joinedSeq', 'ASC'],
  ['createdAt', 'ASC'],
  ['address', 'ASC'],
];

/** How many of the first in line to take over are checked for apps' bots, which never do: a group holds few. */
const BOTS_CHECKED = 10;

/**
 * The apps' bots among the first in line to take over from a departing owner (read before the group is
 * locked, since asking about apps may take a request to the gateway): a bot cannot own a group.
 */
async function botsInLine(ctx: NodeContext, conversationId: string, leaving: string): Promise<string[]> {
  const inLine = await ctx.models.Member.findAll({
    attributes: ['address'],
    where: { conversationId, state: 'active', role: { [Op.in]: ['admin', 'member'] }, address: { [Op.ne]: leaving } },
    order: [['role', 'ASC'], ...SUCCESSION_ORDER],
    limit: BOTS_CHECKED,
  });
  const bots = await Promise.all(inLine.map(async (m) => ((await appOfBot(ctx, m.address)) ? m.address : null)));
  return bots.filter((a): a is string => a !== null);
}

/**
 * Who takes over from a departing owner: the longest-standing admin, else the longest-standing member,
 * never an app's bot (`bots`); nobody when only bots are left.
 */
async function successorOf(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  leaving: string,
  bots: string[],
): Promise<string | undefined> {
  for (const role of ['admin', 'member'] satisfies MemberRole[]) {
    const next = await ctx.models.Member.findOne({
      where: { conversationId, state: 'active', role, address: { [Op.notIn]: [leaving, ...bots] } },
      order: SUCCESSION_ORDER,
      lock: tx.LOCK.UPDATE,
      transaction: tx,
    });
    if (next) return next.address;
  }
  return undefined;
}

/**
 * The actor leaves a group. An owner's ownership passes on; the last member leaving leaves the group
 * empty, which is allowed (its history stays on the home domain).
 */
export async function leaveGroup(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const { conversationId } = parseInput(leaveSchema, input);
  const home = await ctx.members.homeOf(conversationId);
  if (home && home !== ctx.domain) {
    // Leaving a group hosted by another college: its home records it and tells every member domain.
    await assertMember(ctx, conversationId);
    await ctx.federation.home.submit(home, {
      conversationId,
      sender: ctx.actor.address,
      clientMsgId: randomUUID().replace(/-/g, ''),
      kind: 'leave',
      body: '{}',
    });
    const [presented] = await presentForActor(ctx, [(await ctx.models.Conversation.findByPk(conversationId))!]);
    return presented!;
  }
  await requireGroup(ctx, conversationId);
  const me = ctx.actor.address;
  const bots = await botsInLine(ctx, conversationId, me);
  // Who owns the group, and so who takes over, is decided under the lock: the role may change meanwhile.
  let owner: string | undefined;
  const decide = async (tx: Transaction): Promise<GroupEvent> => {
    const member = await recheckActor(ctx, tx, conversationId, ['owner', 'admin', 'member'], '');
    owner = member.role === 'owner' ? await successorOf(ctx, tx, conversationId, me, bots) : undefined;
    return { event: 'member.left', members: [me], by: me, ...(owner ? { owner } : {}) };
  };
  await appendGroupEvent(ctx, conversationId, decide, async (tx) => {
    await endMembership(ctx, tx, conversationId, me, 'left');
    if (owner) {
      await ctx.models.Member.update(
        { role: 'owner' },
        { where: { conversationId, address: owner, state: 'active' }, transaction: tx },
      );
    }
  });
  return announceGroup(ctx, conversationId, [me]);
}
