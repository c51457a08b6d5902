import { rm } from 'node:fs/promises';
import { Op, type Transaction } from 'sequelize';
import type { NodeContext } from '../context.ts';
import type { Message } from '../models.ts';
import { parseBody } from '../messages/present-message.ts';
import { attachmentPath } from './attachment-files.ts';
import { isCarried } from './carried.ts';

/**
 * When a message is recalled, the files it shared are taken back: unless its uploader still shares the
 * same file in another visible message of the conversation, its record is deleted in the recall's
 * transaction (so nobody, its uploader included, can download it here, and other domains' nodes that
 * fetch it for their members are told it does not exist) and, once that commits, its bytes are deleted
 * from disk. Only the uploader's messages count (carried.ts). Only the node that holds a file (its
 * uploader's) has a record of it; elsewhere this finds nothing to do.
 */
export async function takeBackAttachments(ctx: NodeContext, tx: Transaction, recalled: Message): Promise<void> {
  const ids = (parseBody(recalled).attachments ?? []).map((a) => a.id);
  if (ids.length === 0) return;
  const { Attachment } = ctx.models;
  const held = await Attachment.findAll({
    where: { id: { [Op.in]: [...new Set(ids)] }, conversationId: recalled.conversationId },
    attributes: ['id', 'owner'],
    transaction: tx,
  });
  const gone: string[] = [];
  for (const { id, owner } of held) {
    const file = { id, owner, conversationId: recalled.conversationId };
    if (await isCarried(ctx, file, { except: recalled.id, transaction: tx })) continue;
    const deleted = await Attachment.destroy({
      where: { id, conversationId: recalled.conversationId },
      transaction: tx,
    });
    if (deleted > 0) gone.push(id);
  }
  if (gone.length === 0) return;
  tx.afterCommit(async () => {
    for (const id of gone) {
      await rm(attachmentPath(ctx, id), { force: true }).catch((err: unknown) =>
        ctx.logger.warn({ err, attachment: id }, 'a recalled file could not be deleted from disk'),
      );
    }
  });
}
