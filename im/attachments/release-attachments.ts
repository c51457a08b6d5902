import { Op, type Transaction } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import type { NodeContext } from '../context.ts';
import type { Message } from '../models.ts';
import { parseBody } from '../messages/present-message.ts';

/**
 * When a message is recalled, the files it shared stop being readable by the conversation's members:
 * each is unbound from the conversation (its uploader keeps it, and may share it again), unless another
 * message of the conversation that is still visible shares the same file. Runs in the recall's transaction.
 */
export async function releaseAttachments(ctx: NodeContext, tx: Transaction, recalled: Message): Promise<void> {
  const ids = (parseBody(recalled).attachments ?? []).map((a) => a.id);
  if (ids.length === 0) return;
  const { Attachment, Message } = ctx.models;
  for (const id of new Set(ids)) {
    const stillShared = await Message.count({
      where: { conversationId: recalled.conversationId, id: { [Op.ne]: recalled.id }, kind: 'text', recalledAt: null, body: like(ctx.sequelize, containsPattern(`"id":${JSON.stringify(id)}`)) },
      transaction: tx,
    });
    if (stillShared === 0) await Attachment.update({ conversationId: null }, { where: { id, conversationId: recalled.conversationId }, transaction: tx });
  }
}
