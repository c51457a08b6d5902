import { Op, QueryTypes } from 'sequelize';
import { z } from 'zod';
import { containsPattern, ESCAPE_CLAUSE } from '../../core/like.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { requireMember } from '../conversations/membership.ts';
import { parseBody, presentMessage, type PresentedMessage } from './present-message.ts';

const searchSchema = z.object({
  query: z.string().trim().min(2, { message: 'at least 2 characters' }).max(200),
  conversationId: z.string().uuid().optional(),
  limit: z.number().int().min(1).max(100).optional(),
});

/** How many rounds of database matches to sift before answering with what was found. */
const MAX_ROUNDS = 5;

/** The `text` of a stored body, in SQL: matching the raw JSON would also match its keys ("text", "name"). */
function textColumn(ctx: NodeContext): string {
  return ctx.sequelize.getDialect() === 'sqlite' ? "json_extract(m.body, '$.text')" : "JSON_VALUE(m.body, '$.text')";
}

/**
 * Text messages containing the query (case-insensitive), newest first, from the actor's active
 * conversations (or one of them) and only from when the actor joined each; recalled messages never.
 * The database narrows; each candidate's own text then decides, because the database's idea of "the same
 * letter" differs (MariaDB's collation ignores accents; SQLite folds only ASCII case).
 */
export async function searchMessages(ctx: NodeContext, input: unknown): Promise<{ messages: PresentedMessage[] }> {
  const { query, conversationId, limit = 20 } = parseInput(searchSchema, input);
  if (conversationId) await requireMember(ctx, conversationId);
  const needle = query.toLowerCase();
  const page = limit * 2;
  const found: PresentedMessage[] = [];
  for (let round = 0; round < MAX_ROUNDS && found.length < limit; round++) {
    const rows = await ctx.sequelize.query<{ id: string }>(
      `SELECT m.id AS id
         FROM messages m
         JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.address = :me AND mb.state = 'active'
        WHERE m.seq > mb.joined_seq AND m.kind = 'text' AND m.recalled_at IS NULL
          AND LOWER(${textColumn(ctx)}) LIKE :pattern ${ESCAPE_CLAUSE}
          ${conversationId ? 'AND m.conversation_id = :conversationId' : ''}
        ORDER BY m.created_at DESC, m.seq DESC
        LIMIT :page OFFSET :offset`,
      {
        replacements: {
          me: ctx.actor.address,
          pattern: containsPattern(needle),
          conversationId: conversationId ?? null,
          page,
          offset: round * page,
        },
        type: QueryTypes.SELECT,
      },
    );
    if (rows.length === 0) break;
    const messages = await ctx.models.Message.findAll({ where: { id: { [Op.in]: rows.map((r) => r.id) } } });
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const { id } of rows) {
      const message = byId.get(id);
      if (message && !message.recalledAt && parseBody(message).text?.toLowerCase().includes(needle))
        found.push(presentMessage(message));
    }
    if (rows.length < page) break;
  }
  return { messages: found.slice(0, limit) };
}
