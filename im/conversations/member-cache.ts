import { Op } from 'sequelize';
import type { NodeModels } from '../models.ts';

/**
 * Active members per conversation, cached in the process so the send path and fan-out do not query
 * membership for every message. Membership changes publish a bus event that drops the entry on every
 * process; the TTL bounds staleness should such an event be missed.
 */
export function createMemberCache(models: NodeModels, options: { ttlMs?: number; maxEntries?: number } = {}) {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 200_000;
  const entries = new Map<string, { members: Set<string>; home: string | null; at: number }>();
  const loading = new Map<string, Promise<Set<string>>>();

  async function load(ids: string[]): Promise<void> {
    const [rows, conversations] = await Promise.all([
      models.Member.findAll({ where: { conversationId: { [Op.in]: ids }, state: 'active' }, attributes: ['conversationId', 'address'] }),
      models.Conversation.findAll({ where: { id: { [Op.in]: ids } }, attributes: ['id', 'homeDomain'] }),
    ]);
    const now = Date.now();
    const fresh = new Map(ids.map((id) => [id, new Set<string>()]));
    for (const row of rows) fresh.get(row.conversationId)!.add(row.address);
    for (const [id, members] of fresh) {
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(id, { members, home: conversations.find((c) => c.id === id)?.homeDomain ?? null, at: now });
    }
  }

  function cached(id: string): Set<string> | undefined {
    const entry = entries.get(id);
    if (!entry || Date.now() - entry.at > ttlMs) return undefined;
    return entry.members;
  }

  return {
    /** Active members of each conversation (an unknown conversation has none). */
    async of(ids: string[]): Promise<Map<string, Set<string>>> {
      const missing = [...new Set(ids)].filter((id) => !cached(id) && !loading.has(id));
      if (missing.length > 0) {
        const task = load(missing);
        const done = task.then(() => new Set<string>(), () => new Set<string>());
        for (const id of missing) loading.set(id, done);
        try {
          await task;
        } finally {
          for (const id of missing) loading.delete(id);
        }
      }
      await Promise.all(ids.filter((id) => loading.has(id)).map((id) => loading.get(id)));
      const out = new Map<string, Set<string>>();
      for (const id of ids) out.set(id, cached(id) ?? entries.get(id)?.members ?? new Set());
      return out;
    },
    async isMember(conversationId: string, address: string): Promise<boolean> {
      return (await this.of([conversationId])).get(conversationId)!.has(address);
    },
    /** The domain that orders a conversation (null for an unknown one). */
    async homeOf(conversationId: string): Promise<string | null> {
      await this.of([conversationId]);
      return entries.get(conversationId)?.home ?? null;
    },
    invalidate(conversationId: string): void {
      entries.delete(conversationId);
    },
  };
}

export type MemberCache = ReturnType<typeof createMemberCache>;
