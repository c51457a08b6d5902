import { randomUUID } from 'node:crypto';
import { Op, type Transaction } from 'sequelize';
import { z } from 'zod';
import { AppError, ForbiddenError, ValidationError } from '../../core/errors.ts';
import { plainName } from '../../core/plain-names.ts';
import { domainOf } from '../../protocol/address.ts';
import type { groupEventSchema } from '../../protocol/server-frames.ts';
import type { NodeContext } from '../context.ts';
import type { Conversation, Member, MemberRole, MessageRecord } from '../models.ts';
import { revokeCreatorsWebhooks } from '../webhooks/creator-gone.ts';
import { presentConversationFrames } from './list-conversations.ts';
import { membershipChanged, NotMemberError, requireMember } from './membership.ts';
import type { PresentedConversation } from './present-conversation.ts';

/** The most people a group may hold, counting every domain; the same bound the frames enforce. */
export const MAX_GROUP_MEMBERS = 10_000;

/** A title as members read it: plain text that shows as typed (core/plain-names.ts). */
export const groupTitleSchema = plainName(
  z.string().trim().min(1, { message: 'a title is required' }).max(200, { message: 'at most 200 characters' }),
);

/** Makes the fields of `K` that an event of `E` has required, leaving the others as they are. */
type Setting<E, K extends PropertyKey> = E extends unknown ? E & Required<Pick<E, Extract<keyof E, K>>> : never;

/**
 * What a group change appends to the conversation's sequence, so every device sees it in order: an event
 * as devices read it (groupEventSchema), so the two cannot drift, and with `by` and a new group's
 * `members` always set, since a node knows who acted and whom it began with. `count`: how many people
 * it adds, when `members` names only some of them (see namedInEntry).
 */
export type GroupEvent = Setting<z.infer<typeof groupEventSchema>, 'by' | 'members'>;

export class NotHomeError extends AppError {
  constructor(home: string) {
    super('not_home', 409, `This group is hosted by ${home}; it can be changed only there`);
  }
}

/**
 * The group and the actor's active membership in it, refusing direct conversations, and groups hosted by
 * another domain: only the home orders a group's entries, and federation has no way yet to ask it for a
 * membership change.
 */
export async function requireGroup(
  ctx: NodeContext,
  conversationId: string,
): Promise<{ conversation: Conversation; member: Member }> {
  const found = await requireMember(ctx, conversationId);
  if (found.conversation.kind !== 'group') {
    throw new ValidationError('That is a direct conversation, not a group', { conversationId: 'not a group' });
  }
  if (found.conversation.homeDomain !== ctx.domain) throw new NotHomeError(found.conversation.homeDomain);
  return found;
}

export function requireRole(member: Member, roles: MemberRole[], message: string): void {
  if (!roles.includes(member.role)) throw new ForbiddenError(message);
}

/**
 * Someone's active membership read under the flush's lock on the conversation (a locking read, so it is
 * the latest committed state on MariaDB too, not the transaction's snapshot).
 */
function lockedMember(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  address: string,
): Promise<Member | null> {
  return ctx.models.Member.findOne({
    where: { conversationId, address, state: 'active' },
    lock: tx.LOCK.UPDATE,
    transaction: tx,
  });
}

/**
 * The actor's membership, checked again under the lock with one of these roles: a concurrent change
 * (their removal, their demotion) may have landed since the use-case first looked.
 */
export async function recheckActor(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  roles: MemberRole[],
  message: string,
): Promise<Member> {
  const member = await lockedMember(ctx, tx, conversationId, ctx.actor.address);
  if (!member) throw new NotMemberError();
  requireRole(member, roles, message);
  return member;
}

/** An active member other than the actor (checked under the lock), or a refusal naming the field. */
export async function recheckOtherMember(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  address: string,
): Promise<Member> {
  if (address === ctx.actor.address)
    throw new ValidationError('That is you', { member: 'choose someone other than yourself' });
  const member = await lockedMember(ctx, tx, conversationId, address);
  if (!member)
    throw new ValidationError('That person is not a member of this group', { member: 'not a member of this group' });
  return member;
}

/** A change that would change nothing (a group renamed to its title, a role given to who holds it). */
export class NothingToChangeError extends AppError {
  constructor() {
    super('unchanged', 200, 'Nothing to change');
  }
}

/** Refuses a list that names someone twice; addresses are already normalized by their schema. */
export function requireDistinct(addresses: string[]): void {
  const seen = new Set<string>();
  const twice = addresses.filter((a) => (seen.has(a) ? true : (seen.add(a), false)));
  if (twice.length > 0)
    throw new ValidationError('Each person may be listed once', {
      members: `listed more than once: ${[...new Set(twice)].join(', ')}`,
    });
}

/** How many of the people it adds an entry of a big group names. */
export const NAMED_IN_ENTRY = 20;

/**
 * Whom an entry that adds people names. While the group stays within VIEW_MEMBERS_MAX, all of them:
 * devices then keep its whole member list from the entries, as its views list it. A bigger group's
 * views list only their viewer, so its entries name the first NAMED_IN_ENTRY and count the rest: every
 * member already in a 10,000-member group being sent the 1,000 addresses of each invite of its making
 * was most of the bytes it cost, and an early joiner was sent everyone after them that way.
 */
export function namedInEntry(
  added: string[],
  groupSize: number,
  viewMembersMax: number,
): { members: string[]; count?: number } {
  if (groupSize <= viewMembersMax || added.length <= NAMED_IN_ENTRY) return { members: added };
  return { members: added.slice(0, NAMED_IN_ENTRY), count: added.length };
}

export function requireRoomFor(count: number): void {
  if (count > MAX_GROUP_MEMBERS)
    throw new ValidationError(`A group holds at most ${MAX_GROUP_MEMBERS} members`, {
      members: `at most ${MAX_GROUP_MEMBERS} members`,
    });
}

/**
 * Every process forgets its cached member list. This process forgets at once, in an after-commit hook:
 * that runs before the committer fans the entry out, so the entry already reaches the new membership
 * (a joiner sees their joining, someone removed does not). A failure here must not fail the commit.
 */
function forgetMembersAfterCommit(ctx: NodeContext, tx: Transaction, conversationId: string): void {
  tx.afterCommit(() => {
    ctx.members.invalidate(conversationId);
    membershipChanged(ctx, conversationId).catch((err: unknown) =>
      ctx.logger.warn({ err, conversationId }, 'membership event not published'),
    );
  });
}

/**
 * Appends a group change to the sequence through the committer. `decide` runs under the conversation's
 * lock, just before the entry is numbered: it checks the actor's right to the change against the state
 * as it is then (not as it was when the request came in) and returns the event, or throws to refuse it.
 * So two changes racing each other are ordered, and the second is judged after the first (two leaves
 * write one `member.left`; a removed admin's invite is refused). `alsoWrite` applies the change to the
 * membership in the same transaction, so the entry and the change are durable together or not at all.
 * System entries get a server-made client id: group frames carry none, and the id only has to be unique.
 */
export async function appendGroupEvent(
  ctx: NodeContext,
  conversationId: string,
  decide: (tx: Transaction) => Promise<GroupEvent>,
  alsoWrite?: (tx: Transaction, stored: MessageRecord) => Promise<void>,
): Promise<MessageRecord> {
  const { message } = await ctx.committer.append({
    conversationId,
    sender: ctx.actor.address,
    clientMsgId: `sys-${randomUUID()}`,
    kind: 'system',
    body: '',
    prepare: async (tx) => JSON.stringify(await decide(tx)),
    async alsoWrite(tx, stored) {
      await alsoWrite?.(tx, stored);
      forgetMembersAfterCommit(ctx, tx, conversationId);
    },
  });
  return message;
}

/**
 * Makes people active members from just before the entry that adds them, so they see that entry and
 * nothing earlier. Rows are read with a lock: under MariaDB a plain read would use the transaction's
 * snapshot, taken before the conversation lock was granted, and could miss a concurrent invite.
 */
export async function joinMembers(
  ctx: NodeContext,
  tx: Transaction,
  stored: MessageRecord,
  addresses: string[],
): Promise<void> {
  if (addresses.length === 0) return;
  const { Member } = ctx.models;
  const conversationId = stored.conversationId;
  const joinedSeq = stored.seq - 1;
  const existing = await Member.findAll({
    where: { conversationId, address: { [Op.in]: addresses } },
    lock: tx.LOCK.UPDATE,
    transaction: tx,
  });
  const known = new Map(existing.map((m) => [m.address, m]));
  const returning = addresses.filter((a) => known.has(a) && known.get(a)!.state !== 'active');
  // Nothing before one's joining is one's to read: receipts start where the membership does.
  if (returning.length > 0) {
    await Member.update(
      { state: 'active', role: 'member', joinedSeq, readSeq: joinedSeq, deliveredSeq: joinedSeq },
      { where: { conversationId, address: { [Op.in]: returning }, state: { [Op.ne]: 'active' } }, transaction: tx },
    );
  }
  const fresh = addresses.filter((a) => !known.has(a));
  if (fresh.length > 0) {
    await Member.bulkCreate(
      fresh.map((address) => ({
        conversationId,
        address,
        role: 'member' as const,
        state: 'active' as const,
        joinedSeq,
        readSeq: joinedSeq,
        deliveredSeq: joinedSeq,
      })),
      { transaction: tx },
    );
  }
}

/**
 * Ends someone's active membership (leaving or removed), and with it the webhooks they made in the group;
 * a no-op when a concurrent change got there first.
 */
export async function endMembership(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  address: string,
  state: 'left' | 'removed',
): Promise<void> {
  await ctx.models.Member.update({ state }, { where: { conversationId, address, state: 'active' }, transaction: tx });
  await revokeCreatorsWebhooks(ctx, tx, conversationId, address);
}

/**
 * Shows the group as it now is to those of this domain whose membership the change began or ended (each
 * as they see it: a joiner needs the members, or of a big group their count, someone removed sees the
 * group without themselves) and to the actor's other devices; the actor's own socket gets the same view
 * as the reply. Everyone else who stays a member learns the change from its system entry alone, which
 * their client applies (docs/protocol.md): telling a 3,000-member group of one joiner then costs one
 * entry per member, not the whole member list per member, and a joiner of a big group is not sent its
 * member list at all (views beyond VIEW_MEMBERS_MAX list only the viewer). Returns the actor's view.
 */
export async function announceGroup(
  ctx: NodeContext,
  conversationId: string,
  concerned: string[] = [],
): Promise<PresentedConversation> {
  const me = ctx.actor.address;
  const viewers = [...new Set([me, ...concerned])];
  const views = await presentConversationFrames(
    ctx,
    conversationId,
    viewers.filter((a) => a === me || domainOf(a) === ctx.domain),
  );
  for (const [viewer, { frame }] of views) {
    await ctx.bus.publish({
      kind: 'deliver',
      recipients: [viewer],
      frame,
      ...(viewer === me && ctx.connectionId ? { exceptConnection: ctx.connectionId } : {}),
    });
  }
  return views.get(me)!.view;
}
