import { randomUUID } from 'node:crypto';
import type { NodeContext } from '../context.ts';
import type { Appended } from '../messages/group-commit.ts';
import { parseBody } from '../messages/present-message.ts';
import { lockedUnlessRecalled } from '../messages/recall-edit.ts';
import type { Message } from '../models.ts';
import { cardBody, type Card } from './card-schema.ts';

/**
 * Replaces the card of a card message for everyone: a `card.update` entry (refId the card message) in the
 * conversation's sequence, so every member's devices learn of it in order, and in the same transaction
 * the card message itself is rewritten, so history and sync show the new card. A recalled card stays gone,
 * and so does an update of it that was on its way (an app's answer to a click).
 */
export function appendCardUpdate(
  ctx: NodeContext,
  target: Message,
  card: Card,
  clientMsgId = `card-${randomUUID()}`,
): Promise<Appended> {
  const { Message } = ctx.models;
  const senderName = String(parseBody(target).senderName ?? target.sender);
  const body = cardBody(card, senderName);
  return ctx.committer.append({
    conversationId: target.conversationId,
    sender: target.sender,
    clientMsgId,
    kind: 'card.update',
    body: JSON.stringify(body),
    refId: target.id,
    async alsoWrite(tx, stored) {
      // Recalled while the app answered a click: the update carries no card either (as an edit of a recalled message).
      const current = await lockedUnlessRecalled(ctx, tx, target.id, stored);
      if (!current) return;
      await Message.update(
        { body: JSON.stringify({ ...parseBody(current), ...body }), editedAt: stored.createdAt },
        { where: { id: target.id }, transaction: tx },
      );
    },
  });
}
