import { Redis } from 'ioredis';
import { bestStatus, type Presence, type PresenceStatus, type PresenceStore } from './presence-store.ts';

/**
 * Presence shared by every process of a domain: per address, a Redis hash of process → status, so the
 * domain-wide status is the best any process reports, and a last-seen time set when one goes offline.
 * A process that dies leaves its entries to expire with the hash's TTL.
 */
export async function createRedisPresence(url: string, prefix: string, processId: string): Promise<PresenceStore> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  const TTL_SECONDS = 24 * 3600;
  const key = (address: string) => `${prefix}:presence:${address}`;
  const seenKey = (address: string) => `${prefix}:lastseen:${address}`;
  const reported = new Set<string>();

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

  return {
    async report(address, status) {
      const pipeline = redis.pipeline();
      if (status === 'offline') {
        pipeline.hdel(key(address), processId);
        pipeline.set(seenKey(address), new Date().toISOString(), 'EX', 90 * 24 * 3600);
        reported.delete(address);
      } else {
        pipeline.hset(key(address), processId, status);
        pipeline.expire(key(address), TTL_SECONDS);
        reported.add(address);
      }
      await pipeline.exec();
      return (await read([address]))[0]!;
    },
    get: read,
    async clear() {
      const pipeline = redis.pipeline();
      for (const address of reported) pipeline.hdel(key(address), processId);
      await pipeline.exec();
      reported.clear();
      await redis.quit().catch(() => undefined);
    },
  };
}
