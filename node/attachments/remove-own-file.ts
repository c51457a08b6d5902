import { rm } from 'node:fs/promises';
import { ForbiddenError, NotFoundError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { Attachment, RemovedAttachment } from '../models.ts';
import { attachmentPath } from './attachment-files.ts';
import { maySee, UUID } from './read-attachment.ts';
import { CLAIM_MS } from './removal-notices.ts';

/**
 * Someone deletes a file of their own on this node. Its record goes and what is left of it is noted, in
 * one transaction; once that commits its bytes go from disk: it no longer counts against their storage,
 * and downloads answer 410 `attachment_removed`. The messages that carried it stay; each is told the file
 * was removed (tell-file-removed.ts): at once, and, while the conversation's home cannot take it, again
 * until it does, also after a restart (removal-notices.ts), as the transaction noted. Anyone else who may
 * see the file is refused (403), and nothing changes; anyone who may not is told it does not exist.
 * Deleting a file already deleted answers as the first delete did.
 */
export async function removeOwnFile(ctx: NodeContext, id: string): Promise<void> {
  const missing = new NotFoundError('No such attachment');
  if (!UUID.test(id)) throw missing;
  const { Attachment, RemovedAttachment } = ctx.models;
  const file = (await Attachment.findByPk(id)) ?? (await RemovedAttachment.findByPk(id));
  if (!file || !(await maySee(ctx, file))) throw missing;
  if (file.owner !== ctx.actor.address) throw new ForbiddenError('Only the person who shared a file can delete it');
  if (!(file instanceof Attachment)) return;
  const notice = await removeStored(ctx, file);
  if (notice?.tellAfter) await ctx.fileRemovals.tell(notice);
}

/**
 * Deletes the record and notes the removal, with the home of the file's conversation still to be told
 * (held for the try this request makes at once); null when a recall or a sweep deleted the file first.
 */
async function removeStored(ctx: NodeContext, file: Attachment): Promise<RemovedAttachment | null> {
  const { Attachment, RemovedAttachment } = ctx.models;
  const { conversationId } = file;
  const home = conversationId ? await ctx.members.homeOf(conversationId) : null;
  const now = ctx.clock.now();
  return ctx.sequelize.transaction(async (tx) => {
    const deleted = await Attachment.destroy({ where: { id: file.id, owner: file.owner }, transaction: tx });
    if (deleted === 0) return null;
    const notice = await RemovedAttachment.create(
      {
        id: file.id,
        owner: file.owner,
        conversationId,
        removedAt: new Date(now),
        untoldHome: home,
        tellAfter: conversationId ? new Date(now + CLAIM_MS) : null,
      },
      { transaction: tx },
    );
    tx.afterCommit(() =>
      rm(attachmentPath(ctx, file.id), { force: true }).catch((err: unknown) =>
        ctx.logger.warn({ err, attachment: file.id }, 'a deleted file could not be deleted from disk'),
      ),
    );
    return notice;
  });
}
