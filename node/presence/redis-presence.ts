import type { RedisLink } from '../bus/redis-link.ts';
import { bestStatus, type Presence, type PresenceStatus, type PresenceStore } from './presence-store.ts';

/**
 * Presence shared by every process of a domain: per address, a Redis hash of process → status, so the
 * domain-wide status is the best any process reports, and a last-seen time set when one goes offline.
 * A process that dies leaves its entries to expire with the hash's TTL.
 *
 * While Redis does not answer, a report is kept (the latest per address) and answered with this
 * process's own view, so that a socket still connects and closes; what was kept is written once Redis
 * answers again.
 */
export async function createRedisPresence(link: RedisLink, prefix: string, processId: string): Promise<PresenceStore> {
  const redis = await link.connect({ maxRetriesPerRequest: 3 });
  const TTL_SECONDS = 24 * 3600;
  const key = (address: string) => `${prefix}:presence:${address}`;
  const seenKey = (address: string) => `${prefix}:lastseen:${address}`;
  const reported = new Set<string>();
  const unwritten = new Map<string, { status: PresenceStatus; at: string }>();

  async function read(addresses: string[]): Promise<Presence[]> {
    const pipeline = redis.pipeline();
    for (const address of addresses) {
      pipeline.hvals(key(address));
      pipeline.get(seenKey(address));
    }
    const results = (await pipeline.exec()) ?? [];
    return addresses.map((address, i) => {
      const statuses = (results[i * 2]?.[1] as string[] | undefined) ?? [];
      const lastSeen = (results[i * 2 + 1]?.[1] as string | null | undefined) ?? null;
      return { address, status: bestStatus(statuses as PresenceStatus[]), lastSeen };
    });
  }

  async function write(changes: Map<string, { status: PresenceStatus; at: string }>): Promise<void> {
    const pipeline = redis.pipeline();
    for (const [address, { status, at }] of changes) {
      if (status === 'offline') {
        pipeline.hdel(key(address), processId);
        pipeline.set(seenKey(address), at, 'EX', 90 * 24 * 3600);
      } else {
        pipeline.hset(key(address), processId, status);
        pipeline.expire(key(address), TTL_SECONDS);
      }
    }
    await pipeline.exec();
  }

  link.onBack(() => {
    const changes = new Map(unwritten);
    unwritten.clear();
    void write(changes).catch(() => {
      for (const [address, change] of changes) if (!unwritten.has(address)) unwritten.set(address, change);
    });
  });

  return {
    async report(address, status) {
      const change = { status, at: new Date().toISOString() };
      if (status === 'offline') reported.delete(address);
      else reported.add(address);
      if (link.up()) {
        try {
          await write(new Map([[address, change]]));
          return (await read([address]))[0]!;
        } catch {
          // Redis went away meanwhile: kept like any report made while it is away.
        }
      }
      unwritten.set(address, change);
      return { address, status, lastSeen: status === 'offline' ? change.at : null };
    },
    get: read,
    async clear() {
      if (link.up() && reported.size > 0) {
        const pipeline = redis.pipeline();
        for (const address of reported) pipeline.hdel(key(address), processId);
        await pipeline.exec().catch(() => undefined);
      }
      reported.clear();
      await link.close(redis);
    },
  };
}
