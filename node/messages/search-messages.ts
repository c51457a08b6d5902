import { Op, QueryTypes } from 'sequelize';
import { z } from 'zod';
import { containsPattern, ESCAPE_CLAUSE } from '../../core/like.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { requireMember } from '../conversations/membership.ts';
import { parseBody, presentMessage, type PresentedMessage } from './present-message.ts';
import { candidatesSql } from './search-index.ts';
import { hasTerms, queryTerms } from './search-tokens.ts';

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

type Search = { needle: string; conversationId: string | undefined; limit: number };

/**
 * Text messages containing the query (case-insensitive), newest first, from the actor's active
 * conversations (or one of them) and only from when the actor joined each; recalled messages never.
 * The search index (search-index.ts) gives the candidates; a query that gives the index nothing to go by
 * (single letters between signs, such as `e_c`) is answered by a scan of the actor's conversations.
 */
export async function searchMessages(ctx: NodeContext, input: unknown): Promise<{ messages: PresentedMessage[] }> {
  const search = await parseSearch(ctx, input);
  const terms = queryTerms(search.needle);
  if (!hasTerms(terms)) return { messages: await sift(ctx, search, undefined) };
  return { messages: await sift(ctx, search, candidatesSql(ctx.sequelize, terms)) };
}

/** The same search by a scan of every message of the actor's conversations: the index's reference. */
export async function scanMessages(ctx: NodeContext, input: unknown): Promise<{ messages: PresentedMessage[] }> {
  return { messages: await sift(ctx, await parseSearch(ctx, input), undefined) };
}

async function parseSearch(ctx: NodeContext, input: unknown): Promise<Search> {
  const { query, conversationId, limit = 20 } = parseInput(searchSchema, input);
  if (conversationId) await requireMember(ctx, conversationId);
  return { needle: query.toLowerCase(), conversationId, limit };
}

/**
 * The database narrows (to the candidates, when given, and by LIKE); each message's own text then decides,
 * because the database's idea of "the same letter" differs (MariaDB's collation ignores accents; SQLite
 * folds only ASCII case). So the index changes how many rows are read, never which are found.
 */
async function sift(
  ctx: NodeContext,
  { needle, conversationId, limit }: Search,
  candidates: { sql: string; match: string } | undefined,
): Promise<PresentedMessage[]> {
  const page = limit * 2;
  const found: PresentedMessage[] = [];
  for (let round = 0; round < MAX_ROUNDS && found.length < limit; round++) {
    const rows = await ctx.sequelize.query<{ id: string }>(
      `SELECT m.id AS id
         FROM ${candidates ? `(${candidates.sql}) c JOIN messages m ON m.id = c.id` : 'messages m'}
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
          match: candidates?.match ?? null,
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
  return found.slice(0, limit);
}
