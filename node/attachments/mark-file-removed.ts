import { z } from 'zod';
import { ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { bodyFits } from '../../protocol/client-frames.ts';
import type { NodeContext } from '../context.ts';
import type { Appended } from '../messages/group-commit.ts';
import { bodyObject, parseBody, type MessageBody } from '../messages/present-message.ts';
import { appendChange, earlier, RecalledError, type Change } from '../messages/recall-edit.ts';

const schema = z.object({
  clientMsgId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, { message: '8-64 letters, digits, - or _' }),
  messageId: z.string().uuid(),
  attachmentId: z.string().uuid(),
});

/** The files a body describes; none when it describes them in a shape no node writes (a peer may relay anything). */
function filesOf(body: MessageBody): NonNullable<MessageBody['attachments']> | undefined {
  const files: unknown = body.attachments;
  if (!Array.isArray(files) || !files.every((a) => typeof a === 'object' && a !== null)) return undefined;
  return files as NonNullable<MessageBody['attachments']>;
}

const offered = (id: string) => (file: { id: string; removed?: boolean }) => file.id === id && file.removed !== true;

/** Whether a stored body offers the file: it describes it, not marked removed. */
export function stillOffers(stored: string, attachmentId: string): boolean {
  const body = bodyObject(stored);
  return (body && filesOf(body)?.some(offered(attachmentId))) ?? false;
}

/**
 * A stored body with the file marked removed (its name, size and type kept, so that people still see
 * what the message had); undefined when the body does not carry it unmarked. The marks take a few bytes:
 * a body that would no longer fit what a node stores gives up the removed files' names for them, and
 * stays as it was if even that is not enough (devices still learn of the removal from its entry).
 */
export function withFileRemoved(stored: string, attachmentId: string): string | undefined {
  const body = bodyObject(stored);
  const files = body && filesOf(body);
  if (!body || !files?.some(offered(attachmentId))) return undefined;
  const marked = files.map((a) => (a.id === attachmentId ? { ...a, removed: true } : a));
  const full = JSON.stringify({ ...body, attachments: marked });
  if (bodyFits(full)) return full;
  const nameless = JSON.stringify({ ...body, attachments: marked.map((a) => (a.removed ? { ...a, name: '' } : a)) });
  return bodyFits(nameless) ? nameless : undefined;
}

/**
 * The sender of a message deleted a file it carries (attachments/remove-own-file.ts, on the file's node):
 * a `file.removed` entry says so in the conversation, in order (so that devices away now learn it in
 * `sync`), and in its transaction the message's own body marks the file removed (so that history shows
 * it). Ordered by the conversation's home, as recalls and edits are; a retry with the same client id
 * gets the same entry. Only the message's sender may, as long as it is not recalled.
 */
export async function markFileRemoved(ctx: NodeContext, input: unknown): Promise<Appended> {
  const data = parseInput(schema, input);
  const change: Change = { kind: 'file.removed', clientMsgId: data.clientMsgId, messageId: data.messageId };
  const retried = await earlier(ctx, change);
  if (retried) return retried;
  const { Message } = ctx.models;
  const target = await Message.findOne({ where: { id: data.messageId } });
  if (!target) throw new NotFoundError('No such message');
  if (target.sender !== ctx.actor.address) throw new ForbiddenError('Only the person who shared a file can delete it');
  if (target.recalledAt) throw new RecalledError();
  const files = target.kind === 'text' ? filesOf(parseBody(target)) : undefined;
  if (!files?.some((a) => a.id === data.attachmentId))
    throw new ValidationError('That message does not carry that file', { attachmentId: 'not in the message' });
  const body = JSON.stringify({ attachmentId: data.attachmentId });
  return appendChange(ctx, change, target, body, async (tx) => {
    // A locking read sees a recall or edit committed while this one waited for the conversation lock.
    const current = await Message.findOne({ where: { id: target.id }, lock: tx.LOCK.UPDATE, transaction: tx });
    if (!current || current.recalledAt) return;
    const marked = withFileRemoved(current.body, data.attachmentId);
    if (marked) await Message.update({ body: marked }, { where: { id: target.id, recalledAt: null }, transaction: tx });
  });
}
