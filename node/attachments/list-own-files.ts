import { Op } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { OwnFilesPage } from '../../protocol/server-frames.ts';
import type { NodeContext } from '../context.ts';
import { nameForType } from './file-extensions.ts';
import { usageOf } from './upload-quota.ts';

/** Where a page ends: the time and id of its last file (`<ISO time>,<id>`), the `before` of the next page. */
const cursor = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,[0-9a-f-]{36}$/i, { message: 'the next of an earlier page' })
  .transform((text) => {
    const [at, id] = text.split(',') as [string, string];
    return { at: new Date(at), id };
  })
  .refine(({ at }) => !Number.isNaN(at.getTime()), { message: 'the next of an earlier page' });

const querySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  before: cursor.optional(),
});

/**
 * The actor's own files on this node, newest first, a page at a time (those not sent yet included), each
 * with the conversation it was shared in; and what all of them take up, beside what one person may keep.
 */
export async function listOwnFiles(ctx: NodeContext, query: unknown): Promise<OwnFilesPage> {
  const { limit, before } = parseInput(querySchema, query);
  const { Attachment, Conversation } = ctx.models;
  const rows = await Attachment.findAll({
    where: {
      owner: ctx.actor.address,
      ...(before
        ? {
            [Op.or]: [{ createdAt: { [Op.lt]: before.at } }, { createdAt: before.at, id: { [Op.lt]: before.id } }],
          }
        : {}),
    },
    attributes: ['id', 'name', 'contentType', 'size', 'createdAt', 'conversationId'],
    order: [
      ['createdAt', 'DESC'],
      ['id', 'DESC'],
    ],
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const ids = [...new Set(page.flatMap((f) => (f.conversationId ? [f.conversationId] : [])))];
  const conversations = new Map(
    (ids.length === 0
      ? []
      : await Conversation.findAll({ where: { id: { [Op.in]: ids } }, attributes: ['id', 'kind', 'title'] })
    ).map((c) => [c.id, { id: c.id, kind: c.kind, title: c.title }]),
  );
  const last = page.at(-1);
  const { total } = await usageOf(ctx);
  return {
    files: page.map((f) => ({
      id: f.id,
      name: nameForType(f.name, f.contentType),
      contentType: f.contentType,
      size: f.size,
      createdAt: f.createdAt.toISOString(),
      conversation: f.conversationId ? (conversations.get(f.conversationId) ?? null) : null,
    })),
    used: total,
    quota: ctx.config.attachments.storageQuotaBytes ?? null,
    next: rows.length > limit && last ? `${last.createdAt.toISOString()},${last.id}` : null,
  };
}
