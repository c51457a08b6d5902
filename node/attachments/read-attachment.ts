import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../core/errors.ts';
import { botMayRead } from '../bots/bot-reads.ts';
import type { NodeContext } from '../context.ts';
import type { Attachment } from '../models.ts';
import { AttachmentRemovedError, attachmentPath } from './attachment-files.ts';
import { isCarried } from './carried.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether the actor may know of a file: its uploader, or an active member of the conversation it was shared
 * in who can see a message that carries it, as history shows them only what was said since they joined (a
 * bot: one it may read, node/bots/bot-reads.ts).
 */
export async function maySee(
  ctx: NodeContext,
  file: { id: string; owner: string; conversationId: string | null },
): Promise<boolean> {
  if (file.owner === ctx.actor.address) return true;
  if (!file.conversationId) return false;
  const member = await ctx.models.Member.findOne({
    where: { conversationId: file.conversationId, address: ctx.actor.address, state: 'active' },
    attributes: ['address', 'joinedSeq'],
  });
  if (!member) return false;
  // Someone who joined later sees a file only if it was sent (again) since: their history starts there.
  if (
    member.joinedSeq > 0 &&
    !(await isCarried(
      ctx,
      { id: file.id, owner: file.owner, conversationId: file.conversationId },
      { afterSeq: member.joinedSeq },
    ))
  )
    return false;
  if (ctx.actor.kind !== 'app') return true;
  const conversation = await ctx.models.Conversation.findByPk(file.conversationId);
  return !conversation || botMayRead(ctx, ctx.actor, conversation);
}

/**
 * An attachment's record and bytes, for its uploader or an active member of the conversation it was
 * shared into. Everyone else is told it does not exist, so ids cannot be probed. Those who may see it
 * are told when its uploader deleted it (410 `attachment_removed`).
 */
export async function readAttachment(
  ctx: NodeContext,
  id: string,
): Promise<{ attachment: Attachment; content: Readable }> {
  const missing = new NotFoundError('No such attachment');
  if (!UUID.test(id)) throw missing;
  const { Attachment, RemovedAttachment } = ctx.models;
  const attachment = await Attachment.findByPk(id);
  if (!attachment) {
    const removed = await RemovedAttachment.findByPk(id);
    if (removed && (await maySee(ctx, removed))) throw new AttachmentRemovedError();
    throw missing;
  }
  if (!(await maySee(ctx, attachment))) throw missing;
  let handle;
  try {
    handle = await open(attachmentPath(ctx, attachment.id), 'r');
  } catch (error) {
    // Deleted by its uploader since its record was read.
    if (await RemovedAttachment.findByPk(id)) throw new AttachmentRemovedError();
    ctx.logger.error({ err: error, attachment: attachment.id }, 'attachment file missing');
    throw missing;
  }
  return { attachment, content: handle.createReadStream() };
}
