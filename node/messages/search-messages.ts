import { searchTextSchema } from '../../protocol/search-query.ts';
import { QueryTypes } from 'sequelize';
import { z } from 'zod';
import { containsPattern, ESCAPE_CLAUSE } from '../../core/like.ts';
import { parseInput } from '../../core/validate.ts';
import type { NodeContext } from '../context.ts';
import { requireMember } from '../conversations/membership.ts';
import type { PresentedMessage } from './present-message.ts';
import { matching, textColumn, type Search } from './search-match.ts';
import { RECENT_ROWS, searchRecent } from './search-recent.ts';
import { candidatesSql } from './search-index.ts';
import { chooseTerms, type Choice } from './search-terms.ts';
import { allQueryTerms } from './search-tokens.ts';

const searchSchema = z.object({
  query: searchTextSchema(200),
  conversationId: z.string().uuid().optional(),
  limit: z.number().int().min(1).max(100).optional(),
});

/** How many rounds of database matches to sift before answering with what was found. */
const MAX_ROUNDS = 5;

/**
 * Reads the candidates first, then the searcher's membership of each: left to choose, both databases'
 * planners may start from the memberships and look every message up among the candidates.
 */
function firstJoin(ctx: NodeContext): string {
  return ctx.sequelize.getDialect() === 'sqlite' ? 'CROSS JOIN' : 'STRAIGHT_JOIN';
}

/**
 * Text messages containing the query (case-insensitive), newest first, from the actor's active
 * conversations (or one of them) and only from when the actor joined each; recalled messages never.
 * A query found often is answered from the newest messages alone (search-recent.ts); otherwise the search
 * index (search-index.ts) gives the candidates, or, for a query that gives the index nothing to go by
 * (single letters between signs, such as `e_c`), a scan of the actor's conversations does.
 */
export async function searchMessages(ctx: NodeContext, input: unknown): Promise<{ messages: PresentedMessage[] }> {
  const search = await parseSearch(ctx, input);
  const all = allQueryTerms(search.needle);
  if (all.length === 0) return { messages: (await searchRecent(ctx, search)) ?? (await sift(ctx, search)) };
  const choice = chooseTerms(ctx.longReads, search.needle, all);
  if (worthALookAtRecent(choice, search)) {
    const recent = await searchRecent(ctx, search);
    if (recent) return { messages: recent };
  }
  return { messages: await siftCandidates(ctx, search, candidatesSql(ctx.sequelize, choice.terms)) };
}

/**
 * The first look pays off only for a query found often among the newest messages (the sample is some of
 * them); for a rarer one it would not find enough and only cost its read, so the index answers at once.
 */
function worthALookAtRecent({ sampled }: Choice, { limit }: Search): boolean {
  return !sampled || (sampled.matches / sampled.messages) * RECENT_ROWS >= limit;
}

/** The same search by a scan of every message of the actor's conversations: the index's reference. */
export async function scanMessages(ctx: NodeContext, input: unknown): Promise<{ messages: PresentedMessage[] }> {
  return { messages: await sift(ctx, await parseSearch(ctx, input)) };
}

async function parseSearch(ctx: NodeContext, input: unknown): Promise<Search> {
  const { query, conversationId, limit = 20 } = parseInput(searchSchema, input);
  if (conversationId) await requireMember(ctx, conversationId);
  return { needle: query.toLowerCase(), conversationId, limit };
}

/** The scan: the database narrows by LIKE; each message's own text then decides (matching). */
async function sift(ctx: NodeContext, { needle, conversationId, limit }: Search): Promise<PresentedMessage[]> {
  const page = limit * 2;
  const found: PresentedMessage[] = [];
  for (let round = 0; round < MAX_ROUNDS && found.length < limit; round++) {
    const rows = await ctx.longReads.query<{ id: string }>(
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
    found.push(
      ...(await matching(
        ctx,
        rows.map((r) => r.id),
        needle,
      )),
    );
    if (rows.length < page) break;
  }
  return found.slice(0, limit);
}

/** Candidates read from the index at once, and each further time sixteen times as many. */
const FIRST_READ = 2000;

/**
 * Through the index: the candidates in the searcher's conversations, newest first, ordered and filtered
 * by the index rows alone; then a page of them at a time (each page larger), LIKE and each message's own
 * text decide, as in the scan. Candidates that merely have the query's n-grams are passed over, so the
 * index changes how many rows are read, never which are found. Many candidates are read at once: the
 * database finds and orders all of them whatever the LIMIT, so reading them again for a next page would
 * cost the whole search again.
 */
async function siftCandidates(
  ctx: NodeContext,
  { needle, conversationId, limit }: Search,
  candidates: { sql: string; match: string },
): Promise<PresentedMessage[]> {
  const found: PresentedMessage[] = [];
  const seen = new Set<string>();
  let read = Math.max(FIRST_READ, limit * 2);
  for (let offset = 0; found.length < limit; offset += read, read *= 16) {
    const rows = await ctx.longReads.query<{ id: string }>(
      `SELECT c.id AS id FROM (${candidates.sql}) c
         ${firstJoin(ctx)} members mb ON mb.conversation_id = c.conversation_id AND mb.address = :me AND mb.state = 'active'
        WHERE c.seq > mb.joined_seq ${conversationId ? 'AND c.conversation_id = :conversationId' : ''}
        ORDER BY c.created_at DESC, c.seq DESC
        LIMIT :read OFFSET :offset`,
      {
        replacements: {
          me: ctx.actor.address,
          match: candidates.match,
          conversationId: conversationId ?? null,
          read,
          offset,
        },
        type: QueryTypes.SELECT,
      },
    );
    // A message both indexed and queued (edited since) is one candidate, whatever its copies say.
    const ids = [...new Set(rows.map((r) => r.id))].filter((id) => !seen.has(id));
    for (const id of ids) seen.add(id);
    for (let at = 0, page = limit * 2; at < ids.length && found.length < limit; at += page, page *= 4) {
      const some = ids.slice(at, at + page);
      const liked = await ctx.longReads.query<{ id: string }>(
        `SELECT m.id AS id FROM messages m
          WHERE m.id IN (:ids) AND m.kind = 'text' AND m.recalled_at IS NULL
            AND LOWER(${textColumn(ctx)}) LIKE :pattern ${ESCAPE_CLAUSE}`,
        { replacements: { ids: some, pattern: containsPattern(needle) }, type: QueryTypes.SELECT },
      );
      const kept = new Set(liked.map((r) => r.id));
      found.push(
        ...(await matching(
          ctx,
          some.filter((id) => kept.has(id)),
          needle,
        )),
      );
    }
    if (rows.length < read) break;
  }
  return found.slice(0, limit);
}
