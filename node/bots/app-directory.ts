import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { AppForNode } from '../../protocol/app-for-node.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';

export type AppInfo = AppForNode;
/** What the gateway says about apps, as this node needs it: their bots, and whether their clients are active. */
export interface AppDirectory {
  /** The app whose bot is `slug@this-domain`, or null when there is none; the last answer while the gateway is away. */
  get(slug: string): Promise<AppInfo | null>;
  /** Drops what is kept about `slug`, so that the next `get` asks the gateway. */
  forget(slug: string): void;
  /**
   * Whether people's tokens issued to this client may still be used here (an administrator may have
   * disabled or deleted its app). While the gateway cannot be reached the last answer stands, and a client
   * never asked about counts as active: its tokens are still verified in full, only this check waits.
   */
  clientActive(clientId: string): Promise<boolean>;
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
}): AppDirectory {
  async function fetchClient(clientId: string): Promise<boolean> {
    const path = `/federation/v1/clients/${encodeURIComponent(clientId)}`;
    const response = await fetch(await signedGatewayRequest(options, 'GET', path));
    if (!response.ok)
      throw new AppError('gateway_unavailable', 503, `The gateway refused the client lookup (HTTP ${response.status})`);
    return ((await response.json()) as { client: { active: boolean } }).client.active === true;
  }

  async function fetchApp(slug: string): Promise<AppInfo | null> {
    const path = `/federation/v1/apps/${encodeURIComponent(slug)}`;
    const request = await signedGatewayRequest(options, 'GET', path);
    let response: Response;
    try {
      response = await fetch(request);
    } catch (error) {
      options.logger.warn({ err: error, slug }, 'app lookup at the gateway failed');
      throw new AppError(
        'gateway_unavailable',
        503,
        'The identity gateway cannot be reached to look up the app; try again',
      );
    }
    if (response.status === 404) return null;
    if (!response.ok)
      throw new AppError('gateway_unavailable', 503, `The gateway refused the app lookup (HTTP ${response.status})`);
    return ((await response.json()) as { app: AppInfo }).app;
  }

  const apps = cachedLookup(fetchApp, options.ttlMs);
  const clients = cachedLookup(fetchClient, options.ttlMs);

  return {
    async get(slug: string): Promise<AppInfo | null> {
      // While the gateway is away, the last answer stands rather than silencing every bot.
      return apps.get(slug, (error, last) => {
        if (last) return last.value;
        throw error;
      });
    },
    forget(slug: string): void {
      apps.forget(slug);
    },

    /**
     * Whether people's tokens issued to this client may still be used here (an administrator may have
     * disabled or deleted its app), asked at the gateway and kept for `ttlMs`. While the gateway cannot be
     * reached the last answer stands, and a client never asked about counts as active: its tokens are
     * still verified in full, only this check waits for the gateway. Either way it is asked again after
     * `ttlMs`, not at every token meanwhile.
     */
    async clientActive(clientId: string): Promise<boolean> {
      return clients.get(clientId, (error, last) => {
        options.logger.warn({ err: error, clientId }, 'client status unknown; the gateway cannot be reached');
        return clients.remember(clientId, last?.value ?? true);
      });
    },
  };
}

/**
 * Answers kept for `ttlMs` per key, one fetch in flight per key. When a fetch fails, `onError` gets the
 * error and the last answer (if any, however old) and decides: return a value, or throw.
 */
function cachedLookup<V>(fetchOne: (key: string) => Promise<V>, ttlMs: number) {
  const cache = new Map<string, { at: number; value: V }>();
  const inFlight = new Map<string, Promise<V>>();
  const remember = (key: string, value: V): V => {
    cache.set(key, { at: Date.now(), value });
    return value;
  };
  return {
    remember,
    forget: (key: string) => void cache.delete(key),
    async get(key: string, onError: (error: unknown, last: { value: V } | undefined) => V): Promise<V> {
      const cached = cache.get(key);
      if (cached && Date.now() - cached.at < ttlMs) return cached.value;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = fetchOne(key).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      try {
        return remember(key, await pending);
      } catch (error) {
        return onError(error, cached);
      }
    },
  };
}
