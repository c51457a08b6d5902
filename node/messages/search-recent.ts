import { QueryTypes } from 'sequelize';
import { containsPattern, ESCAPE_CLAUSE } from '../../core/like.ts';
import { sqlLiterals } from '../../core/sql-literal.ts';
import type { NodeContext } from '../context.ts';
import type { PresentedMessage } from './present-message.ts';
import { matching, textColumn, type Search } from './search-match.ts';

/** About how many of the newest messages the first look reads, spread over the searcher's conversations. */
export const RECENT_ROWS = 4000;
const AT_LEAST_PER_CONVERSATION = 20;
/** Beyond this many conversations the first look would read too much; the index answers alone. */
const MAX_CONVERSATIONS = 400;

type Window = { id: string; from: number; cut: boolean };

/**
 * A query found in many messages (a common word, two letters) gives the index as many candidates, all
 * to be read and sorted; yet its newest matches are among the newest messages. So the newest messages
 * of each of the searcher's conversations are read first (a key range each, cheap): if they hold enough
 * matches newer than every message left out, those are the answer, exactly as the scan would give it.
 *
 * Why exactly: within a conversation `created_at` grows with `seq` (a flush stamps its time once it holds
 * the conversation's lock), so every message left out of a conversation's window is no newer than the
 * window's oldest; a match newer than the newest of those boundaries is ahead of every message left out.
 * Answers undefined when the look does not settle it.
 */
export async function searchRecent(ctx: NodeContext, search: Search): Promise<PresentedMessage[] | undefined> {
  const windows = await windowsOf(ctx, search.conversationId);
  if (!windows) return undefined;
  if (windows.length === 0) return [];
  const literal = sqlLiterals(ctx.sequelize);
  const ranges = windows.map((w) => `(m.conversation_id = ${literal(w.id)} AND m.seq > ${literal(w.from)})`);
  const cut = windows.filter((w) => w.cut);
  const boundaries = cut.map((w) => `(b.conversation_id = ${literal(w.id)} AND b.seq = ${literal(w.from + 1)})`);
  // Every boundary must be there (a conversation copied from another domain may have gaps): else no answer.
  const within = `FROM messages b WHERE ${boundaries.join(' OR ')}`;
  const newer =
    cut.length === 0
      ? ''
      : `AND (SELECT COUNT(*) ${within}) = ${cut.length} AND m.created_at > (SELECT MAX(b.created_at) ${within})`;
  const page = search.limit * 2;
  const rows = await ctx.longReads.query<{ id: string }>(
    `SELECT m.id AS id FROM messages m
      WHERE (${ranges.join(' OR ')}) AND m.kind = 'text' AND m.recalled_at IS NULL
        AND LOWER(${textColumn(ctx)}) LIKE :pattern ${ESCAPE_CLAUSE} ${newer}
      ORDER BY m.created_at DESC, m.seq DESC
      LIMIT ${page}`,
    { replacements: { pattern: containsPattern(search.needle) }, type: QueryTypes.SELECT },
  );
  const found = await matching(
    ctx,
    rows.map((r) => r.id),
    search.needle,
  );
  return found.length >= search.limit ? found.slice(0, search.limit) : undefined;
}

/** Each active conversation's newest visible messages: from which `seq` on, and whether older ones remain. */
async function windowsOf(ctx: NodeContext, conversationId: string | undefined): Promise<Window[] | undefined> {
  const rows = await ctx.longReads.query<{ id: string; joined_seq: number | string; last_seq: number | string }>(
    `SELECT c.id AS id, mb.joined_seq AS joined_seq, c.last_seq AS last_seq
       FROM members mb JOIN conversations c ON c.id = mb.conversation_id
      WHERE mb.address = :me AND mb.state = 'active' ${conversationId ? 'AND c.id = :conversationId' : ''}`,
    {
      replacements: { me: ctx.actor.address, conversationId: conversationId ?? null },
      type: QueryTypes.SELECT,
    },
  );
  const visible = rows.filter((r) => Number(r.last_seq) > Number(r.joined_seq));
  if (visible.length > MAX_CONVERSATIONS) return undefined;
  const per = Math.max(AT_LEAST_PER_CONVERSATION, Math.floor(RECENT_ROWS / Math.max(visible.length, 1)));
  return visible.map((r) => {
    const joined = Number(r.joined_seq);
    const from = Math.max(joined, Number(r.last_seq) - per);
    return { id: r.id, from, cut: from > joined };
  });
}
