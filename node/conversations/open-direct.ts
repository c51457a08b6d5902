import { createHash } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import { ValidationError } from '../../core/errors.ts';
import { domainOf } from '../../protocol/address.ts';
import type { NodeContext } from '../context.ts';
import type { Conversation } from '../models.ts';
import { membershipChanged } from './membership.ts';

export function directKeyOf(a: string, b: string): string {
  return [a, b].sort().join('|');
}

/**
 * A pair's conversation id and home domain follow from the two addresses alone, so both people's
 * nodes agree on them without asking each other.
 */
export function directIdentity(a: string, b: string): { id: string; homeDomain: string; key: string } {
  const key = directKeyOf(a, b);
  const h = createHash('sha256').update(`direct:${key}`).digest('hex');
  const id = `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return { id, homeDomain: domainOf(key.split('|')[0]!), key };
}

/** Whether an id has the layout of a pair's conversation (version 8); groups' ids are versions 4 and 5. */
export function isDirectId(id: string): boolean {
  return id[14] === '8';
}

/**
 * Finds or creates the direct conversation between the actor and a peer, who may be on another domain
 * (the policy must allow that domain). Each side's node keeps its own copy; the home orders it. A new
 * conversation is opened only with someone the peer's domain knows (`unknown_address` otherwise, naming
 * the input `field` that gave the peer).
 */
export async function openDirect(
  ctx: NodeContext,
  peer: string,
  field = 'peer',
): Promise<{ conversation: Conversation; created: boolean }> {
  const me = ctx.actor.address;
  if (peer === me) throw new ValidationError('You cannot start a conversation with yourself', { peer: 'that is you' });
  await ctx.federation.policy.assertAllowed([peer]);
  const found = await ctx.models.Conversation.findByPk(directIdentity(me, peer).id);
  if (found) return { conversation: found, created: false };
  await ctx.addresses.assertKnown([peer], field);
  return createDirect(ctx, me, peer);
}

/** Creates the pair's conversation with both as members (or finds it, when another request won the race). */
export async function createDirect(
  ctx: NodeContext,
  a: string,
  b: string,
): Promise<{ conversation: Conversation; created: boolean }> {
  const { id, homeDomain, key } = directIdentity(a, b);
  const { Conversation, Member } = ctx.models;
  try {
    const conversation = await ctx.sequelize.transaction(async (tx) => {
      const conversation = await Conversation.create(
        { id, kind: 'direct', homeDomain, title: null, directKey: key, createdBy: a },
        { transaction: tx },
      );
      await Member.bulkCreate(
        [a, b].map((address) => ({ conversationId: id, address, role: 'member' as const, state: 'active' as const })),
        { transaction: tx },
      );
      return conversation;
    });
    await membershipChanged(ctx, id);
    return { conversation, created: true };
  } catch (error) {
    if (error instanceof UniqueConstraintError)
      return { conversation: (await Conversation.findByPk(id))!, created: false };
    throw error;
  }
}
