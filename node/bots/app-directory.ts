import type { Logger } from '../../core/logger.ts';
import { appSlugPattern } from '../../protocol/address.ts';
import type { AppForNode, ClientForNode } from '../../protocol/app-for-node.ts';
import type { PrivateKeyJwk } from '../../protocol/signature.ts';
import { createGatewayLookup } from './gateway-lookup.ts';

export type AppInfo = AppForNode;

/**
 * Whether a name could be an app's slug, and so the user part of its bot's address: the gateway takes
 * only slugs of appSlugPattern, never `hook-…` (webhook senders) or `system` (its reserved names;
 * gateway/apps-registry/schemas.ts). Any other name is nobody's bot, and the gateway is not asked.
 */
export function couldBeAppSlug(name: string): boolean {
  return appSlugPattern.test(name) && !name.startsWith('hook-') && name !== 'system';
}

/**
 * How many answers each lookup keeps by default (the least recently used go first): far more apps and
 * clients than a campus registers, while names made up by the thousand (each answered "no such app")
 * cannot grow it.
 */
export const APP_ANSWERS_KEPT = 2_000;
/** What the gateway says about apps, as this node needs it: their bots, and whether their clients are active. */
export interface AppDirectory {
  /**
   * The app whose bot is `slug@this-domain`, or null when there is none (at once, without asking, for a
   * name that cannot be a slug); the last answer while the gateway is away.
   */
  get(slug: string): Promise<AppInfo | null>;
  /**
   * Drops what is kept about the app `slug` (and, given, about its client `clientId`), so that the next
   * `get` (and `clientActive`) asks the gateway: an answer already on its way is not kept either.
   */
  forget(slug: string, clientId?: string): void;
  /**
   * Whether people's tokens issued to this client may still be used here (an administrator may have
   * disabled or deleted its app). While the gateway cannot be reached the last answer stands, and a client
   * never asked about counts as active: its tokens are still verified in full, only this check waits.
   */
  clientActive(clientId: string): Promise<boolean>;
  /**
   * What the gateway says of a client now or within `ttlMs` (whether it is first-party, which app it is),
   * the last answer while the gateway is away; throws `gateway_unavailable` when it was never answered.
   */
  client(clientId: string): Promise<ClientForNode>;
}

/**
 * What the gateway says about the app behind a bot address (whether its bot may post, where its card
 * clicks go, the secret that signs them), asked over a signed request and kept for `ttlMs`, so that
 * disabling an app or rotating its secret reaches the node within that time. While the gateway cannot be
 * reached, the last answer is used.
 */
export function createAppDirectory(options: {
  gatewayIssuer: string;
  origin: string;
  signingKey: () => Promise<PrivateKeyJwk>;
  ttlMs: number;
  logger: Logger;
  /** How many answers about apps, and about clients, are kept (APP_ANSWERS_KEPT unless told). */
  maxKept?: number;
}): AppDirectory {
  const lookUp = createGatewayLookup(options);

  function fetchClient(clientId: string): Promise<ClientForNode | null> {
    return lookUp({
      path: `/federation/v1/clients/${encodeURIComponent(clientId)}`,
      fields: { clientId },
      read: async (response) => ((await response.json()) as { client: ClientForNode }).client,
      unreachable: 'The identity gateway cannot be reached to look up the client; try again',
    });
  }

  function fetchApp(slug: string): Promise<AppInfo | null> {
    return lookUp({
      path: `/federation/v1/apps/${encodeURIComponent(slug)}`,
      fields: { slug },
      answers: [404],
      read: async (response) => (response.status === 404 ? null : ((await response.json()) as { app: AppInfo }).app),
      unreachable: 'The identity gateway cannot be reached to look up the app; try again',
    });
  }

  const maxKept = options.maxKept ?? APP_ANSWERS_KEPT;
  const apps = cachedLookup(fetchApp, options.ttlMs, maxKept);
  const clients = cachedLookup(fetchClient, options.ttlMs, maxKept);

  return {
    async get(slug: string): Promise<AppInfo | null> {
      if (!couldBeAppSlug(slug)) return null;
      // While the gateway is away, the last answer stands rather than silencing every bot.
      return apps.get(slug, (error, last) => {
        if (last) return last.value;
        throw error;
      });
    },
    forget(slug: string, clientId?: string): void {
      apps.forget(slug);
      if (clientId !== undefined) clients.forget(clientId);
    },

    /**
     * Whether people's tokens issued to this client may still be used here (an administrator may have
     * disabled or deleted its app), asked at the gateway and kept for `ttlMs`. While the gateway cannot be
     * reached the last answer stands, and a client never asked about counts as active: its tokens are
     * still verified in full, only this check waits for the gateway. Either way it is asked again after
     * `ttlMs`, not at every token meanwhile.
     */
    async clientActive(clientId: string): Promise<boolean> {
      // The failure was said as the lookups' (gateway-lookup.ts), once for all clients.
      // A null kept is "never answered": it counts as active without standing for an answer of the gateway's.
      const client = await clients.get(clientId, (_error, last) => clients.remember(clientId, last?.value ?? null));
      return client === null || client.active === true;
    },
    async client(clientId: string): Promise<ClientForNode> {
      const answered = (error: unknown, last: { value: ClientForNode | null } | undefined) => {
        if (last?.value) return last.value;
        throw error;
      };
      const client = await clients.get(clientId, answered);
      if (client) return client;
      // Only "never answered" was kept: ask the gateway now.
      clients.forget(clientId);
      return (await clients.get(clientId, answered)) as ClientForNode;
    },
  };
}

/**
 * Answers kept for `ttlMs` per key, one fetch in flight per key, at most `maxKept` of them: beyond that the
 * least recently used goes. When a fetch fails, `onError` gets the error and the last answer (if any,
 * however old) and decides: return a value, or throw. `forget` drops a key's answer, and a fetch of it
 * already in flight is neither joined nor kept: it may have been answered before the change.
 */
function cachedLookup<V>(fetchOne: (key: string) => Promise<V>, ttlMs: number, maxKept: number) {
  // A Map keeps its keys in the order they were set: each use sets its key again, so the first is the least recent.
  const cache = new Map<string, { at: number; value: V }>();
  const inFlight = new Map<string, Promise<V>>();
  // Counts forgets: an answer asked for before one may predate the change, so it is not kept (apps change seldom).
  let forgets = 0;
  const keep = (key: string, entry: { at: number; value: V }) => {
    cache.delete(key);
    cache.set(key, entry);
    if (cache.size > maxKept) cache.delete(cache.keys().next().value!);
  };
  const remember = (key: string, value: V): V => {
    keep(key, { at: Date.now(), value });
    return value;
  };
  return {
    remember,
    forget(key: string): void {
      forgets += 1;
      cache.delete(key);
      inFlight.delete(key);
    },
    async get(key: string, onError: (error: unknown, last: { value: V } | undefined) => V): Promise<V> {
      const cached = cache.get(key);
      if (cached) keep(key, cached);
      if (cached && Date.now() - cached.at < ttlMs) return cached.value;
      const asked = forgets;
      let pending = inFlight.get(key);
      if (!pending) {
        const fetching = fetchOne(key).finally(() => {
          if (inFlight.get(key) === fetching) inFlight.delete(key);
        });
        inFlight.set(key, fetching);
        pending = fetching;
      }
      let value: V;
      try {
        value = await pending;
      } catch (error) {
        return onError(error, cached);
      }
      // Something was forgotten while this was asked: this caller gets the answer, and it is not kept.
      return forgets === asked ? remember(key, value) : value;
    },
  };
}
