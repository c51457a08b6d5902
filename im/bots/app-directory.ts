import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { AppForNode } from '../../apps-registry/app-for-node.ts';
import { signRequest, type PrivateKeyJwk } from '../federation/signature.ts';

export type AppInfo = AppForNode;
export type AppDirectory = ReturnType<typeof createAppDirectory>;

/**
 * What the gateway says about the app behind a bot address (whether its bot may post, where its card
 * clicks go, the secret that signs them), asked over a signed request and kept for `ttlMs`, so that
 * disabling an app or rotating its secret reaches the node within that time. While the gateway cannot be
 * reached, the last answer is used.
 */
export function createAppDirectory(options: { gatewayIssuer: string; origin: string; signingKey: () => Promise<PrivateKeyJwk>; ttlMs: number; logger: Logger }) {
  const cache = new Map<string, { at: number; app: AppInfo | null }>();
  const inFlight = new Map<string, Promise<AppInfo | null>>();

  const clients = new Map<string, { at: number; active: boolean }>();
  const clientsInFlight = new Map<string, Promise<boolean>>();

  async function fetchClient(clientId: string): Promise<boolean> {
    const path = `/federation/v1/clients/${encodeURIComponent(clientId)}`;
    const headers = signRequest(await options.signingKey(), { method: 'GET', path, origin: options.origin, destination: 'gateway', body: '' });
    const response = await fetch(`${options.gatewayIssuer}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new AppError('gateway_unavailable', 503, `The gateway refused the client lookup (HTTP ${response.status})`);
    return ((await response.json()) as { client: { active: boolean } }).client.active === true;
  }

  async function fetchApp(slug: string): Promise<AppInfo | null> {
    const path = `/federation/v1/apps/${encodeURIComponent(slug)}`;
    const headers = signRequest(await options.signingKey(), { method: 'GET', path, origin: options.origin, destination: 'gateway', body: '' });
    let response: Response;
    try {
      response = await fetch(`${options.gatewayIssuer}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
    } catch (error) {
      options.logger.warn({ err: error, slug }, 'app lookup at the gateway failed');
      throw new AppError('gateway_unavailable', 503, 'The identity gateway cannot be reached to look up the app; try again');
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new AppError('gateway_unavailable', 503, `The gateway refused the app lookup (HTTP ${response.status})`);
    return ((await response.json()) as { app: AppInfo }).app;
  }

  return {
    /** The app whose bot is `slug@this-domain`, or null when there is none. */
    async get(slug: string): Promise<AppInfo | null> {
      const cached = cache.get(slug);
      if (cached && Date.now() - cached.at < options.ttlMs) return cached.app;
      let pending = inFlight.get(slug);
      if (!pending) {
        pending = fetchApp(slug).finally(() => inFlight.delete(slug));
        inFlight.set(slug, pending);
      }
      try {
        const app = await pending;
        cache.set(slug, { at: Date.now(), app });
        return app;
      } catch (error) {
        // While the gateway is away, the last answer stands rather than silencing every bot.
        if (cached) return cached.app;
        throw error;
      }
    },
    forget(slug: string): void {
      cache.delete(slug);
    },

    /**
     * Whether people's tokens issued to this client may still be used here (an administrator may have
     * disabled or deleted its app), asked at the gateway and kept for `ttlMs`. While the gateway cannot be
     * reached the last answer stands, and a client never asked about counts as active: its tokens are
     * still verified in full, only this check waits for the gateway.
     */
    async clientActive(clientId: string): Promise<boolean> {
      const cached = clients.get(clientId);
      if (cached && Date.now() - cached.at < options.ttlMs) return cached.active;
      let pending = clientsInFlight.get(clientId);
      if (!pending) {
        pending = fetchClient(clientId).finally(() => clientsInFlight.delete(clientId));
        clientsInFlight.set(clientId, pending);
      }
      try {
        const active = await pending;
        clients.set(clientId, { at: Date.now(), active });
        return active;
      } catch (error) {
        // Asked again after `ttlMs`, not at every token meanwhile.
        options.logger.warn({ err: error, clientId }, 'client status unknown; the gateway cannot be reached');
        const active = cached?.active ?? true;
        clients.set(clientId, { at: Date.now(), active });
        return active;
      }
    },
  };
}
