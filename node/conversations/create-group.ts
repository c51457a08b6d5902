import { createHash, randomUUID } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { addressSchema } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import { countGroupCreation } from '../limits/person-limits.ts';
import {
  announceGroup,
  appendGroupEvent,
  groupTitleSchema,
  MAX_GROUP_MEMBERS,
  namedInEntry,
  requireDistinct,
  requireRoomFor,
} from './group-change.ts';
import { membershipChanged, requireMember } from './membership.ts';
import { presentForActor } from './list-conversations.ts';
import type { PresentedConversation } from './present-conversation.ts';

/** A new group, as `group.create` gives it (whose frame's `v`, `id` and `type` pass too) or an HTTP body. */
export const createGroupSchema = z.object({
  title: groupTitleSchema,
  members: z.array(addressSchema).max(MAX_GROUP_MEMBERS, { message: `at most ${MAX_GROUP_MEMBERS} members` }),
  clientId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{8,64}$/, { message: '8-64 letters, digits, - or _' })
    .optional(),
});

/**
 * The id of the group a creator's `clientId` names (a name-based UUID, version 5 layout): a retried
 * create computes the same id and finds the group it already made, however often it is repeated.
 */
export function groupIdFor(domain: string, creator: string, clientId: string): string {
  const hash = createHash('sha1').update(`atrium group.create\n${domain}\n${creator}\n${clientId}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Creates a group homed on this domain with the actor as owner and the given people (of any domain) as
 * members, all from the first entry on; each must be known to their domain (`unknown_address`). If the
 * opening entry cannot be stored the group is removed again, so a failed create leaves nothing behind.
 * With a `clientId`, a repeated create (a retry after a lost answer) answers with the group the first one
 * made, as it is now, and makes no second group; once the creator has left it, with `not_member`. One
 * person creates at most GROUP_CREATIONS_PER_HOUR groups an hour (`rate_limited`).
 */
export async function createGroup(ctx: NodeContext, input: unknown): Promise<PresentedConversation> {
  const data = parseInput(createGroupSchema, input);
  const me = ctx.actor.address;
  requireDistinct(data.members);
  const others = data.members.filter((a) => a !== me);
  requireRoomFor(others.length + 1);
  await ctx.federation.policy.assertAllowedAmong([ctx.actor.address, ...others]);

  const { Conversation, Member } = ctx.models;
  const id = data.clientId ? groupIdFor(ctx.domain, me, data.clientId) : randomUUID();
  const made = async () => (data.clientId ? await madeBefore(ctx, id) : undefined);
  const earlier = await made();
  if (earlier) return earlier;
  await ctx.addresses.assertKnown(others, 'members');
  // Counted once everything else holds: a retry of a group already made, or a refused one, costs nothing.
  await countGroupCreation(ctx);
  try {
    await ctx.sequelize.transaction(async (tx) => {
      await Conversation.create(
        { id, kind: 'group', homeDomain: ctx.domain, title: data.title, directKey: null, createdBy: me },
        { transaction: tx },
      );
      await Member.bulkCreate(
        [
          { conversationId: id, address: me, role: 'owner' as const, state: 'active' as const },
          ...others.map((address) => ({
            conversationId: id,
            address,
            role: 'member' as const,
            state: 'active' as const,
          })),
        ],
        { transaction: tx },
      );
    });
  } catch (error) {
    // The same create, repeated from another device or over HTTP while the first was being stored.
    const concurrent = error instanceof UniqueConstraintError ? await made() : undefined;
    if (concurrent) return concurrent;
    throw error;
  }
  try {
    await appendGroupEvent(ctx, id, async () => ({
      event: 'group.created',
      title: data.title,
      ...namedInEntry([me, ...others], others.length + 1, ctx.config.viewMembersMax),
      by: me,
    }));
  } catch (error) {
    await ctx.sequelize.transaction(async (tx) => {
      await Member.destroy({ where: { conversationId: id }, transaction: tx });
      await Conversation.destroy({ where: { id }, transaction: tx });
    });
    await membershipChanged(ctx, id).catch((err: unknown) =>
      ctx.logger.warn({ err, conversationId: id }, 'membership event not published'),
    );
    throw error;
  }
  return announceGroup(ctx, id, others);
}

/**
 * The group an earlier create with the same client id made, as the actor sees it now. A creator who has
 * left it or been removed is refused like any other non-member: the retry shows nothing of it.
 */
async function madeBefore(ctx: NodeContext, id: string): Promise<PresentedConversation | undefined> {
  const made = await requireMember(ctx, id).catch((error: unknown) => {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  });
  if (!made) return undefined;
  const [view] = await presentForActor(ctx, [made.conversation]);
  return view;
}
