import { Op, type Transaction } from 'sequelize';
import type { NodeModels } from '../models.ts';

/** Active members and home domain per conversation, as the send path and fan-out ask for them. */
export interface MemberCache {
  /** Active members of each conversation (an unknown conversation has none). */
  of(ids: string[]): Promise<Map<string, Set<string>>>;
  /** `of` for ids not all cached: loads the missing ones (one query for all), once however many ask. */
  load(ids: string[]): Promise<Map<string, Set<string>>>;
  /**
   * A cached conversation's members and home, at once (no promise): the send path's common case. Undefined
   * when it is not cached; then use `of` / `homeOf`.
   */
  peek(conversationId: string): { members: Set<string>; home: string | null } | undefined;
  /** A conversation's members and home, read if not cached (an unknown conversation has none and no home). */
  entry(conversationId: string): Promise<{ members: Set<string>; home: string | null }>;
  /** Whether `address` is an active member of the conversation. */
  isMember(conversationId: string, address: string): Promise<boolean>;
  /**
   * Members and home of each conversation, for code running inside a write transaction: cached entries
   * as they are, the rest read through `tx` and not cached (what a transaction reads may never commit).
   * A read outside the transaction could wait out SQLite's busy timeout: the other connection may be
   * held by a writer queued for the very lock this transaction holds.
   */
  inTransaction(tx: Transaction, ids: string[]): Promise<Map<string, { members: Set<string>; home: string | null }>>;
  /** The domain that orders a conversation (null for an unknown one). */
  homeOf(conversationId: string): Promise<string | null>;
  /** Drops what is cached about a conversation whose membership changed (a `membership` bus event). */
  invalidate(conversationId: string): void;
  /** Drops everything cached: membership events may have been missed (the bus was away). */
  invalidateAll(): void;
}

/**
 * Active members per conversation, cached in the process so the send path and fan-out do not query
 * membership for every message. Membership changes publish a bus event that drops the entry on every
 * process; the TTL bounds staleness should such an event be missed. An entry past its TTL is still
 * answered while it is read again in the background (one query for all that expired together), so that
 * thousands of conversations cached at once do not all miss at once, in the middle of traffic.
 */
export function createMemberCache(
  models: NodeModels,
  options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): MemberCache {
  const { ttlMs = 60_000, maxEntries = 200_000, now: clock = Date.now } = options;
  const entries = new Map<string, { members: Set<string>; home: string | null; at: number }>();
  const loading = new Map<string, Promise<Set<string>>>();
  // Bumped by invalidate(): a load that started before an invalidation must not store what it read.
  const generation = new Map<string, number>();
  const refreshing = new Set<string>();
  let refreshTimer: NodeJS.Timeout | undefined;

  async function load(ids: string[]): Promise<void> {
    const startedAt = new Map(ids.map((id) => [id, generation.get(id) ?? 0]));
    const read = await readMembers(models, ids);
    const now = clock();
    for (const [id, { members, home }] of read) {
      if ((generation.get(id) ?? 0) !== startedAt.get(id)) continue;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(id, { members, home, at: now });
    }
  }

  function cached(id: string): Set<string> | undefined {
    const entry = entries.get(id);
    if (!entry) return undefined;
    if (clock() - entry.at > ttlMs) refreshLater(id);
    return entry.members;
  }

  function refreshLater(id: string) {
    if (refreshing.has(id)) return;
    refreshing.add(id);
    refreshTimer ??= setTimeout(() => {
      refreshTimer = undefined;
      const ids = [...refreshing];
      for (let i = 0; i < ids.length; i += 1000) {
        const chunk = ids.slice(i, i + 1000);
        load(chunk)
          .catch(() => {
            // The database is away: keep answering from the entries, and try again in a few seconds.
            const retryAt = clock() - ttlMs + 5_000;
            for (const id of chunk) {
              const entry = entries.get(id);
              if (entry) entry.at = retryAt;
            }
          })
          .finally(() => {
            for (const id of chunk) refreshing.delete(id);
          });
      }
    }, 0);
    refreshTimer.unref();
  }

  return {
    async of(ids: string[]): Promise<Map<string, Set<string>>> {
      // The send path asks for cached conversations thousands of times a second: answer those directly.
      const out = new Map<string, Set<string>>();
      for (const id of ids) {
        const members = cached(id);
        if (!members) return this.load(ids);
        out.set(id, members);
      }
      return out;
    },
    async load(ids: string[]): Promise<Map<string, Set<string>>> {
      const missing = [...new Set(ids)].filter((id) => !cached(id) && !loading.has(id));
      if (missing.length > 0) {
        const task = load(missing);
        const done = task.then(
          () => new Set<string>(),
          () => new Set<string>(),
        );
        for (const id of missing) loading.set(id, done);
        try {
          await task;
        } finally {
          for (const id of missing) loading.delete(id);
        }
      }
      await Promise.all(ids.filter((id) => loading.has(id)).map((id) => loading.get(id)));
      const out = new Map<string, Set<string>>();
      const stale = ids.filter((id) => !cached(id));
      // Invalidated while loading: read again rather than answer with what may be outdated.
      if (stale.length > 0) await load(stale);
      for (const id of ids) out.set(id, cached(id) ?? new Set());
      return out;
    },
    peek(conversationId: string): { members: Set<string>; home: string | null } | undefined {
      return cached(conversationId) ? entries.get(conversationId) : undefined;
    },
    async entry(conversationId: string): Promise<{ members: Set<string>; home: string | null }> {
      const members = (await this.load([conversationId])).get(conversationId)!;
      return { members, home: entries.get(conversationId)?.home ?? null };
    },
    async isMember(conversationId: string, address: string): Promise<boolean> {
      const members = cached(conversationId) ?? (await this.load([conversationId])).get(conversationId)!;
      return members.has(address);
    },
    inTransaction(tx, ids) {
      return readThrough(
        ids,
        (id) => (cached(id) ? entries.get(id) : undefined),
        (missing) => readMembers(models, missing, tx),
      );
    },
    /** The domain that orders a conversation (null for an unknown one). */
    async homeOf(conversationId: string): Promise<string | null> {
      if (!cached(conversationId)) await this.load([conversationId]);
      return entries.get(conversationId)?.home ?? null;
    },
    invalidate(conversationId: string): void {
      entries.delete(conversationId);
      generation.set(conversationId, (generation.get(conversationId) ?? 0) + 1);
    },
    invalidateAll(): void {
      for (const id of new Set([...entries.keys(), ...loading.keys()])) this.invalidate(id);
    },
  };
}

type Members = { members: Set<string>; home: string | null };

/** Cached entries as they are, and the rest read with one query for all. */
async function readThrough(
  ids: string[],
  cachedEntry: (id: string) => Members | undefined,
  read: (missing: string[]) => Promise<Map<string, Members>>,
): Promise<Map<string, Members>> {
  const out = new Map<string, Members>();
  const missing: string[] = [];
  for (const id of new Set(ids)) {
    const entry = cachedEntry(id);
    if (entry) out.set(id, { members: entry.members, home: entry.home });
    else missing.push(id);
  }
  if (missing.length > 0) for (const [id, members] of await read(missing)) out.set(id, members);
  return out;
}

/** Active members and home of each conversation, from the database (through `tx` when given). */
async function readMembers(
  models: NodeModels,
  ids: string[],
  tx?: Transaction,
): Promise<Map<string, { members: Set<string>; home: string | null }>> {
  const [rows, conversations] = await Promise.all([
    models.Member.findAll({
      where: { conversationId: { [Op.in]: ids }, state: 'active' },
      attributes: ['conversationId', 'address'],
      transaction: tx,
    }),
    models.Conversation.findAll({ where: { id: { [Op.in]: ids } }, attributes: ['id', 'homeDomain'], transaction: tx }),
  ]);
  const homes = new Map(conversations.map((c) => [c.id, c.homeDomain]));
  const out = new Map(ids.map((id) => [id, { members: new Set<string>(), home: homes.get(id) ?? null }]));
  for (const row of rows) out.get(row.conversationId)!.members.add(row.address);
  return out;
}
