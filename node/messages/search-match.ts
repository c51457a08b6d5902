import { Op } from 'sequelize';
import type { NodeContext } from '../context.ts';
import { parseBody, presentMessage, type PresentedMessage } from './present-message.ts';

/** A search as parsed: the lowercased query, where, and how many results. */
export type Search = { needle: string; conversationId: string | undefined; limit: number };

/** The `text` of a stored body, in SQL: matching the raw JSON would also match its keys ("text", "name"). */
export function textColumn(ctx: NodeContext): string {
  return ctx.sequelize.getDialect() === 'sqlite' ? "json_extract(m.body, '$.text')" : "JSON_VALUE(m.body, '$.text')";
}

/**
 * Of the messages the database gave (in its order), those whose own text contains the needle: the
 * database only narrows, because its idea of "the same letter" differs (MariaDB's collation ignores
 * accents; SQLite folds only ASCII case).
 */
export async function matching(ctx: NodeContext, ids: string[], needle: string): Promise<PresentedMessage[]> {
  if (ids.length === 0) return [];
  const messages = await ctx.models.Message.findAll({ where: { id: { [Op.in]: ids } } });
  const byId = new Map(messages.map((m) => [m.id, m]));
  const found: PresentedMessage[] = [];
  for (const id of ids) {
    const message = byId.get(id);
    if (message && !message.recalledAt && parseBody(message).text?.toLowerCase().includes(needle))
      found.push(presentMessage(message));
  }
  return found;
}
