import type { Transaction } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import type { MemberRole } from '../models.ts';
import type { Webhook } from './models.ts';

/** Who manages a group's webhooks (manage-webhooks.ts), and so whose webhooks may post. */
export const WEBHOOK_ROLES: readonly MemberRole[] = ['owner', 'admin'];

/**
 * A webhook speaks for whoever made it: it ends when they may no longer manage the group's webhooks, so
 * that removing someone from a group (or demoting them) ends every way they had of posting into it. It
 * stays revoked if they come back; the group's owner or an admin makes a new one. Called in the
 * transaction that ends the membership or the role, so the change and the revocation land together.
 */
export async function revokeCreatorsWebhooks(
  ctx: NodeContext,
  tx: Transaction,
  conversationId: string,
  creator: string,
): Promise<void> {
  const [revoked] = await ctx.apps.Webhook.update(
    { revokedAt: new Date(), revokedBy: ctx.actor.address },
    { where: { conversationId, createdBy: creator, revokedAt: null }, transaction: tx },
  );
  if (revoked > 0) {
    tx.afterCommit(() =>
      ctx.logger.info({ conversationId, creator, revoked, by: ctx.actor.address }, "creator's webhooks revoked"),
    );
  }
}

/**
 * Whether the webhook's creator is still an active member of its group who may manage its webhooks: one
 * read by the membership's primary key. It catches a webhook that the change itself did not revoke: one
 * whose creator left or was removed before the node revoked webhooks with the change.
 */
export async function creatorMayPost(services: NodeServices, hook: Webhook): Promise<boolean> {
  const member = await services.models.Member.findOne({
    where: { conversationId: hook.conversationId, address: hook.createdBy, state: 'active' },
    attributes: ['role'],
  });
  return member !== null && WEBHOOK_ROLES.includes(member.role);
}

/**
 * Revokes webhooks whose creator may no longer post, those not revoked yet, for the node itself: no one
 * acted, so `revokedBy` stays empty.
 */
export async function revokeForCreator(
  parts: { Webhook: typeof Webhook; logger: Logger },
  ids: string[],
  why: string,
): Promise<void> {
  if (ids.length === 0) return;
  const [revoked] = await parts.Webhook.update(
    { revokedAt: new Date(), revokedBy: null },
    { where: { id: ids, revokedAt: null } },
  );
  if (revoked > 0) parts.logger.info({ webhooks: ids, why }, 'webhooks revoked: their creator may no longer post');
}
