import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import { domainOf } from '../../protocol/address.ts';
import { allowed, domainEntry, type RegistryClient } from '../../protocol/registry-client.ts';
import type { Presence } from '../presence/presence-store.ts';
import { presenceListSchema } from '../../protocol/federation-events.ts';
import type { Transport } from './transport.ts';

/** How long another domain's answer about one of its people is used before asking again. */
const CACHE_MS = 15_000;
/**
 * How long an address another domain did not answer for (nobody has it there, or the domain could not be
 * reached) is not asked about again: a device that keeps naming made-up people does not make this node
 * keep asking for them.
 */
const UNANSWERED_MS = 30_000;
/** How long a domain that asked about one of our people hears of their changes. */
const WATCH_MS = 10 * 60_000;
/** Changes to one domain go together, at most this often. */
const BATCH_MS = 500;
const MAX_CACHED = 50_000;
/** How often watches that ran out are let go, for people whose presence did not change meanwhile. */
const SWEEP_MS = 60_000;

/**
 * The most of our people one domain hears of at once; asked about more, it stops hearing of those it asked
 * about least recently. Only people who exist are watched, so a domain watches at most everyone here:
 * this only bounds what a domain with more people than that (or a peer gone wrong) can make this node hold.
 */
export const MAX_WATCHED_PER_DOMAIN = 20_000;

/** Presence across domains: asking other domains about their people, and telling watching domains of ours. */
export interface FederatedPresence {
  /**
   * What other domains say about these people of theirs (addresses of this domain are left out). Only
   * domains the registry holds and the policy lets this one reach are asked; the people of any other,
   * and people a domain did not answer for, are left out.
   */
  query(addresses: string[]): Promise<Presence[]>;
  /** Those of these addresses (of our people) that `origin` does not hear of now. */
  unwatched(origin: string, addresses: string[]): string[];
  /** `origin` asked about these people of ours (people who exist): it hears of their changes for a while. */
  watchedBy(origin: string, addresses: string[]): void;
  /** How many of our people `origin` hears of now. */
  watchedCount(origin: string): number;
  /** One of our people changed presence: the domains watching them hear of it shortly. */
  localChanged(presence: Presence): void;
  /** `origin` told of its people's changes: those of its own people are kept and returned, to tell our devices. */
  remoteChanged(origin: string, list: Presence[]): Presence[];
  /** Sends what is waiting now (a node going down tells of its people leaving), and no more later. */
  stop(): void;
}

/** Which domains hear of which of our people's changes, and until when (the answering side of presence). */
function createWatches(clock: Clock) {
  /** Domains that asked about our people → those people → until when they hear of changes, soonest first. */
  const watched = new Map<string, Map<string, number>>();

  /** Lets go of a domain's watches that ran out; each watch is set again when renewed, so they run out in order. */
  function expire(origin: string, people: Map<string, number>, now: number) {
    for (const [address, until] of people) {
      if (until > now) break;
      people.delete(address);
    }
    if (people.size === 0) watched.delete(origin);
  }

  // Watches of people whose presence does not change are let go too, not only when a change finds them.
  let sweepTimer = clock
    .setTimeout(function sweep() {
      const now = clock.now();
      for (const [origin, people] of watched) expire(origin, people, now);
      sweepTimer = clock.setTimeout(sweep, SWEEP_MS).unref();
    }, SWEEP_MS)
    .unref();

  return {
    unwatched(origin: string, addresses: string[]): string[] {
      const people = watched.get(origin);
      const now = clock.now();
      return addresses.filter((a) => !((people?.get(a) ?? 0) > now));
    },
    watchedBy(origin: string, addresses: string[]): void {
      if (addresses.length === 0) return;
      const now = clock.now();
      const people = watched.get(origin) ?? new Map<string, number>();
      watched.set(origin, people);
      for (const address of addresses) {
        people.delete(address);
        people.set(address, now + WATCH_MS);
      }
      for (const [address] of people) {
        if (people.size <= MAX_WATCHED_PER_DOMAIN) break;
        people.delete(address);
      }
      expire(origin, people, now);
    },
    watchedCount(origin: string): number {
      const people = watched.get(origin);
      if (!people) return 0;
      expire(origin, people, clock.now());
      return people.size;
    },
    /** The domains that hear of this person's changes now. */
    watchersOf(address: string): string[] {
      const now = clock.now();
      const domains: string[] = [];
      for (const [origin, people] of watched) {
        const until = people.get(address);
        if (until === undefined) continue;
        if (until > now) domains.push(origin);
        else people.delete(address);
      }
      return domains;
    },
    stop(): void {
      clock.clearTimeout(sweepTimer);
    },
  };
}

/**
 * Other domains' answers about their people (the asking side of presence): kept CACHE_MS, or UNANSWERED_MS
 * for addresses left unanswered; only registered domains the policy lets this one reach are asked.
 */
function createAnswers(options: {
  domain: string;
  transport: Pick<Transport, 'post'>;
  registry: Pick<RegistryClient, 'get'>;
  logger: Logger;
  clock: Clock;
}) {
  const { domain, transport, logger, clock } = options;
  /** Other domains' people → their presence (null: not answered for) and until when it is used. */
  const cache = new Map<string, { presence: Presence | null; until: number }>();

  function remember(address: string, presence: Presence | null, until: number) {
    cache.delete(address);
    // Entries are set in the order they were learnt, so the first runs out soonest.
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(address, { presence, until });
  }

  /** Asks `other` about some of its people; what it does not answer for is remembered as unanswered. */
  async function ask(other: string, list: string[], now: number): Promise<Presence[]> {
    const answered: Presence[] = [];
    try {
      const response = await transport.post(other, '/federation/v1/presence', { addresses: list }, 3_000);
      const parsed = response.status === 200 ? presenceListSchema.safeParse(response.body.presence) : undefined;
      const asked = new Set(list);
      for (const presence of parsed?.success ? parsed.data : []) {
        if (domainOf(presence.address) !== other || !asked.has(presence.address)) continue;
        remember(presence.address, presence, now + CACHE_MS);
        answered.push(presence);
      }
    } catch (err) {
      logger.debug({ err, domain: other }, 'presence not available from that domain');
    }
    const told = new Set(answered.map((p) => p.address));
    for (const address of list) if (!told.has(address)) remember(address, null, now + UNANSWERED_MS);
    return answered;
  }

  /** The domains among these that may be asked: in the registry, and allowed by the policy; none while it cannot be read. */
  async function reachable(domains: string[]): Promise<Set<string>> {
    const registry = await options.registry.get().catch((err: unknown) => {
      logger.debug({ err }, 'presence of other domains not asked: the registry cannot be read');
      return undefined;
    });
    if (!registry) return new Set();
    return new Set(domains.filter((d) => domainEntry(registry, d) && allowed(registry, domain, d)));
  }

  return {
    async query(addresses: string[]): Promise<Presence[]> {
      const now = clock.now();
      const known: Presence[] = [];
      const toAsk = new Map<string, string[]>();
      for (const address of new Set(addresses)) {
        const other = domainOf(address);
        if (other === domain) continue;
        const cached = cache.get(address);
        if (cached && now < cached.until) {
          if (cached.presence) known.push(cached.presence);
          continue;
        }
        const list = toAsk.get(other);
        if (list) list.push(address);
        else toAsk.set(other, [address]);
      }
      if (toAsk.size === 0) return known;
      const askable = await reachable([...toAsk.keys()]);
      const answers = await Promise.all(
        [...toAsk].filter(([other]) => askable.has(other)).map(([other, list]) => ask(other, list, now)),
      );
      return [...known, ...answers.flat()];
    },
    remember,
  };
}

/**
 * Presence across domains: this node asks another domain's node about its people (answers are kept
 * briefly), and that node then tells this one of their changes for a while, best effort, like typing.
 * Asking is the subscription, so a device that keeps watching someone keeps hearing of them.
 */
export function createFederatedPresence(options: {
  domain: string;
  transport: Pick<Transport, 'post'>;
  registry: Pick<RegistryClient, 'get'>;
  logger: Logger;
  clock: Clock;
}): FederatedPresence {
  const { transport, logger, clock } = options;
  const answers = createAnswers(options);
  const watches = createWatches(clock);
  const pending = new Map<string, Map<string, Presence>>();
  let flushTimer: NodeJS.Timeout | undefined;

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
    query: answers.query,
    unwatched: watches.unwatched,
    watchedBy: watches.watchedBy,
    watchedCount: watches.watchedCount,

    localChanged(presence: Presence): void {
      for (const destination of watches.watchersOf(presence.address)) {
        const changes = pending.get(destination) ?? new Map<string, Presence>();
        changes.set(presence.address, presence);
        pending.set(destination, changes);
      }
      if (pending.size > 0) flushTimer ??= setTimeout(flush, BATCH_MS).unref();
    },

    remoteChanged(origin: string, list: Presence[]): Presence[] {
      const until = clock.now() + CACHE_MS;
      const accepted = list.filter((p) => domainOf(p.address) === origin);
      for (const presence of accepted) answers.remember(presence.address, presence, until);
      return accepted;
    },

    stop(): void {
      watches.stop();
      if (flushTimer) clearTimeout(flushTimer);
      flush();
    },
  };
}
