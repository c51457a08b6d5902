import { Redis } from 'ioredis';
import type { Logger } from '../../core/logger.ts';
import type { Bus, BusEvent } from './bus.ts';

/**
 * The bus of a domain running as several processes: one Redis channel per domain, one subscriber
 * connection per process. A process handles its own events directly and drops their echo from Redis,
 * so each event is handled exactly once per process.
 */
export async function createRedisBus(url: string, prefix: string, origin: string, logger: Logger): Promise<Bus> {
  const channel = `${prefix}:events`;
  const publisher = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const subscriber = new Redis(url, { lazyConnect: true });
  await Promise.all([publisher.connect(), subscriber.connect()]);
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
      await publisher.publish(channel, JSON.stringify({ o: origin, e: event }));
    },
    subscribe(h) {
      handler = h;
    },
    async close() {
      handler = undefined;
      await subscriber.quit().catch(() => undefined);
      await publisher.quit().catch(() => undefined);
    },
  };
}
