import type { Logger } from '../../core/logger.ts';
import { domainOf } from '../../protocol/address.ts';
import type { Presence } from '../presence/presence-store.ts';
import { presenceListSchema } from '../../protocol/federation-events.ts';
import type { Transport } from './transport.ts';

/** How long another domain's answer about one of its people is used before asking again. */
const CACHE_MS = 15_000;
/** How long a domain that asked about one of our people hears of their changes. */
const WATCH_MS = 10 * 60_000;
/** Changes to one domain go together, at most this often. */
const BATCH_MS = 500;
const MAX_CACHED = 50_000;

/** Presence across domains: asking other domains about their people, and telling watching domains of ours. */
export interface FederatedPresence {
  /** What other domains say about these people of theirs (addresses of this domain are left out); unknown ones are left out too. */
  query(addresses: string[]): Promise<Presence[]>;
  /** `origin` asked about these people of ours: it hears of their changes for a while. */
  watchedBy(origin: string, addresses: string[]): void;
  /** One of our people changed presence: the domains watching them hear of it shortly. */
  localChanged(presence: Presence): void;
  /** `origin` told of its people's changes: those of its own people are kept and returned, to tell our devices. */
  remoteChanged(origin: string, list: Presence[]): Presence[];
  /** Sends what is waiting now (a node going down tells of its people leaving), and no more later. */
  stop(): void;
}

/**
 * Presence across domains: this node asks another domain's node about its people (answers are kept
 * briefly), and that node then tells this one of their changes for a while, best effort, like typing.
 * Asking is the subscription, so a device that keeps watching someone keeps hearing of them.
 */
export function createFederatedPresence(options: {
  domain: string;
  transport: Pick<Transport, 'post'>;
  logger: Logger;
  now?: () => number;
}): FederatedPresence {
  const { domain, transport, logger } = options;
  const clock = options.now ?? Date.now;
  const cache = new Map<string, { presence: Presence; at: number }>();
  /** Our people → the domains that asked about them → until when they hear of changes. */
  const watchers = new Map<string, Map<string, number>>();
  const pending = new Map<string, Map<string, Presence>>();
  let flushTimer: NodeJS.Timeout | undefined;

  function remember(presence: Presence, at: number) {
    if (cache.size >= MAX_CACHED) {
      for (const [address, entry] of cache) if (at - entry.at > CACHE_MS) cache.delete(address);
      if (cache.size >= MAX_CACHED) cache.clear();
    }
    cache.set(presence.address, { presence, at });
  }

  function flush() {
    flushTimer = undefined;
    for (const [destination, changes] of pending) {
      transport
        .post(destination, '/federation/v1/presence/changed', { presence: [...changes.values()] }, 3_000)
        .catch((err: unknown) => logger.debug({ err, destination }, 'presence change not relayed'));
    }
    pending.clear();
  }

  return {
    async query(addresses: string[]): Promise<Presence[]> {
      const now = clock();
      const known: Presence[] = [];
      const ask = new Map<string, string[]>();
      for (const address of new Set(addresses)) {
        const other = domainOf(address);
        if (other === domain) continue;
        const cached = cache.get(address);
        if (cached && now - cached.at < CACHE_MS) known.push(cached.presence);
        else ask.set(other, [...(ask.get(other) ?? []), address]);
      }
      await Promise.all(
        [...ask].map(async ([other, list]) => {
          try {
            const response = await transport.post(other, '/federation/v1/presence', { addresses: list }, 3_000);
            if (response.status !== 200) return;
            const parsed = presenceListSchema.safeParse(response.body.presence);
            if (!parsed.success) return;
            for (const presence of parsed.data) {
              if (domainOf(presence.address) !== other || !list.includes(presence.address)) continue;
              remember(presence, now);
              known.push(presence);
            }
          } catch (err) {
            logger.debug({ err, domain: other }, 'presence not available from that domain');
          }
        }),
      );
      return known;
    },

    watchedBy(origin: string, addresses: string[]): void {
      const until = clock() + WATCH_MS;
      for (const address of addresses) {
        const domains = watchers.get(address) ?? new Map<string, number>();
        domains.set(origin, until);
        watchers.set(address, domains);
      }
    },

    localChanged(presence: Presence): void {
      const domains = watchers.get(presence.address);
      if (!domains) return;
      const now = clock();
      for (const [destination, until] of domains) {
        if (until < now) {
          domains.delete(destination);
          continue;
        }
        const changes = pending.get(destination) ?? new Map<string, Presence>();
        changes.set(presence.address, presence);
        pending.set(destination, changes);
      }
      if (domains.size === 0) watchers.delete(presence.address);
      if (pending.size > 0) flushTimer ??= setTimeout(flush, BATCH_MS).unref();
    },

    remoteChanged(origin: string, list: Presence[]): Presence[] {
      const now = clock();
      const accepted = list.filter((p) => domainOf(p.address) === origin);
      for (const presence of accepted) remember(presence, now);
      return accepted;
    },

    stop(): void {
      if (flushTimer) clearTimeout(flushTimer);
      flush();
    },
  };
}
