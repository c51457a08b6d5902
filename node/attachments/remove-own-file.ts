import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { ForbiddenError, NotFoundError } from '../../core/errors.ts';
import { containsPattern, like } from '../../core/like.ts';
import type { NodeContext } from '../context.ts';
import type { Attachment } from '../models.ts';
import { attachmentPath } from './attachment-files.ts';
import { markFileRemoved, stillOffers } from './mark-file-removed.ts';
import { maySee, UUID } from './read-attachment.ts';

/**
 * The client id of the entry that tells of a file's removal from one message: the same for every try,
 * so that a retried delete (or one that ran twice at once) adds it once.
 */
function removalId(attachmentId: string, messageId: string): string {
  return `rm-${createHash('sha256').update(`${attachmentId}/${messageId}`).digest('base64url').slice(0, 40)}`;
}

/**
 * Someone deletes a file of their own on this node. Its record goes and what is left of it is noted, in
 * one transaction; once that commits its bytes go from disk: it no longer counts against their storage,
 * and downloads answer 410 `attachment_removed`. The messages that carried it stay; each is told the file
 * was removed (markFileRemoved). Anyone else who may see the file is refused (403), and nothing changes;
 * anyone who may not is told it does not exist. Deleting a file already deleted tells the messages again
 * where they were not told, and answers as the first delete did.
 */
export async function removeOwnFile(ctx: NodeContext, id: string): Promise<void> {
  const missing = new NotFoundError('No such attachment');
  if (!UUID.test(id)) throw missing;
  const { Attachment, RemovedAttachment } = ctx.models;
  const file = (await Attachment.findByPk(id)) ?? (await RemovedAttachment.findByPk(id));
  if (!file || !(await maySee(ctx, file))) throw missing;
  if (file.owner !== ctx.actor.address) throw new ForbiddenError('Only the person who shared a file can delete it');
  if (file instanceof Attachment && !(await removeStored(ctx, file))) return;
  if (file.conversationId) await tellMessages(ctx, id, file.conversationId);
}

/** Deletes the record and notes the removal; false when a recall or a sweep deleted the file first. */
async function removeStored(ctx: NodeContext, file: Attachment): Promise<boolean> {
  const { Attachment, RemovedAttachment } = ctx.models;
  return ctx.sequelize.transaction(async (tx) => {
    const deleted = await Attachment.destroy({ where: { id: file.id, owner: file.owner }, transaction: tx });
    if (deleted === 0) return false;
    await RemovedAttachment.create(
      { id: file.id, owner: file.owner, conversationId: file.conversationId, removedAt: new Date(ctx.clock.now()) },
      { transaction: tx },
    );
    tx.afterCommit(() =>
      rm(attachmentPath(ctx, file.id), { force: true }).catch((err: unknown) =>
        ctx.logger.warn({ err, attachment: file.id }, 'a deleted file could not be deleted from disk'),
      ),
    );
    return true;
  });
}

/**
 * Each visible message of the person that carries the file, in this node's copy of the conversation, is
 * told (at the conversation's home, wherever it is). The file is gone already: a home out of reach, or
 * refusing (an older node), leaves those messages offering it, and a download there answers 410; it is
 * logged, and a delete again tells them.
 */
async function tellMessages(ctx: NodeContext, attachmentId: string, conversationId: string): Promise<void> {
  const carriers = await ctx.models.Message.findAll({
    where: {
      conversationId,
      sender: ctx.actor.address,
      kind: 'text',
      recalledAt: null,
      body: like(ctx.sequelize, containsPattern(`"id":${JSON.stringify(attachmentId)}`)),
    },
    attributes: ['id', 'body'],
  });
  for (const message of carriers) {
    if (!stillOffers(message.body, attachmentId)) continue;
    const clientMsgId = removalId(attachmentId, message.id);
    await markFileRemoved(ctx, { clientMsgId, messageId: message.id, attachmentId }).catch((err: unknown) =>
      ctx.logger.warn(
        { err, attachment: attachmentId, message: message.id },
        'the messages that carried a deleted file could not be told',
      ),
    );
  }
}
