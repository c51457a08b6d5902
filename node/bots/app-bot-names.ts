import type { GatewayLookup } from './gateway-lookup.ts';

/** An app as the gateway lists it to a node (`GET /federation/v1/apps`). */
type NamedApp = { slug: string; name: string };

/** After the gateway failed to list the apps, how long the last list (or none) stands before it is asked again. */
const RETRY_MS = 5_000;

/**
 * The names of the apps whose bots this node may host, by slug: whom a conversation's member list marks
 * as an app's bot (`slug@this-domain`; conversations/bot-members.ts). One list for the whole node, asked of
 * the gateway at most once per `ttlMs` (or after `forget`, when an app changed) rather than once per
 * member or per view: a campus registers tens of apps.
 */
export interface AppBotNames {
  /** The list as last answered; empty while the gateway has never answered, so that no view waits on it. */
  get(): Promise<ReadonlyMap<string, string>>;
  /** Drops the list: an app was registered, renamed or deleted; the next `get` asks again. */
  forget(): void;
}

export function createAppBotNames(lookUp: GatewayLookup, ttlMs: number, now: () => number = Date.now): AppBotNames {
  let kept: { until: number; names: ReadonlyMap<string, string> } | undefined;
  let inFlight: Promise<ReadonlyMap<string, string>> | undefined;
  let forgets = 0;

  async function ask(): Promise<ReadonlyMap<string, string>> {
    const asked = forgets;
    const at = now();
    try {
      const apps = await lookUp({
        path: '/federation/v1/apps',
        fields: { list: 'apps' },
        // A gateway from before this list has none to give: no member is marked.
        answers: [404],
        read: async (r) => (r.status === 404 ? [] : ((await r.json()) as { apps: NamedApp[] }).apps),
        unreachable: 'The identity gateway cannot be reached to list the apps',
      });
      const names = new Map(apps.map((a) => [a.slug, a.name]));
      if (forgets === asked) kept = { until: at + ttlMs, names };
      return names;
    } catch {
      // The lookup has said so (gateway-lookup.ts); views go on with the last list, or none.
      const names = kept?.names ?? new Map<string, string>();
      if (forgets === asked) kept = { until: at + Math.min(ttlMs, RETRY_MS), names };
      return names;
    }
  }

  return {
    async get() {
      if (kept && now() < kept.until) return kept.names;
      if (inFlight) return inFlight;
      const asking = ask().finally(() => {
        if (inFlight === asking) inFlight = undefined;
      });
      inFlight = asking;
      return asking;
    },
    forget() {
      forgets += 1;
      kept = undefined;
      inFlight = undefined;
    },
  };
}
