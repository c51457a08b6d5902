import type { Logger } from '../../core/logger.ts';
import type { Bus, BusEvent } from './bus.ts';
import type { RedisLink } from './redis-link.ts';

/**
 * The bus of a domain running as several processes: one Redis channel per domain, one subscriber
 * connection per process. A process handles its own events directly and drops their echo from Redis,
 * so each event is handled exactly once per process.
 *
 * While Redis does not answer, an event reaches this process only: what caused it is done (committed)
 * already and must not fail for want of the other processes, which catch up once Redis is back
 * (node/main.ts). Nothing is queued meanwhile, so no burst of stale events follows an outage.
 */
export async function createRedisBus(link: RedisLink, prefix: string, origin: string, logger: Logger): Promise<Bus> {
  const channel = `${prefix}:events`;
  const publisher = await link.connect({ enableOfflineQueue: false });
  const subscriber = await link.connect();
  let handler: ((event: BusEvent) => void) | undefined;

  subscriber.on('message', (_channel: string, raw: string) => {
    try {
      const { o, e } = JSON.parse(raw) as { o: string; e: BusEvent };
      if (o !== origin) handler?.(e);
    } catch (err) {
      logger.warn({ err }, 'dropped a malformed bus message');
    }
  });
  await subscriber.subscribe(channel);

  return {
    async publish(event) {
      handler?.(event);
      if (!link.up()) return;
      // Redis went away just now: the link says so once; the other processes catch up when it is back.
      await publisher.publish(channel, JSON.stringify({ o: origin, e: event })).catch(() => undefined);
    },
    subscribe(h) {
      handler = h;
    },
    async close() {
      handler = undefined;
      await link.close(subscriber);
      await link.close(publisher);
    },
  };
}
