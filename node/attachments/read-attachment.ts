import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../core/errors.ts';
import type { NodeContext } from '../context.ts';
import type { Attachment } from '../models.ts';
import { attachmentPath } from './attachment-files.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An attachment's record and bytes, for its uploader or an active member of the conversation it was
 * shared into. Everyone else is told it does not exist, so ids cannot be probed.
 */
export async function readAttachment(
  ctx: NodeContext,
  id: string,
): Promise<{ attachment: Attachment; content: Readable }> {
  const missing = new NotFoundError('No such attachment');
  if (!UUID.test(id)) throw missing;
  const { Attachment, Member } = ctx.models;
  const attachment = await Attachment.findByPk(id);
  if (!attachment) throw missing;
  if (attachment.owner !== ctx.actor.address) {
    if (!attachment.conversationId) throw missing;
    const member = await Member.findOne({
      where: { conversationId: attachment.conversationId, address: ctx.actor.address, state: 'active' },
    });
    if (!member) throw missing;
  }
  let handle;
  try {
    handle = await open(attachmentPath(ctx, attachment.id), 'r');
  } catch (error) {
    ctx.logger.error({ err: error, attachment: attachment.id }, 'attachment file missing');
    throw missing;
  }
  return { attachment, content: handle.createReadStream() };
}
