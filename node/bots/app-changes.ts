import type { EndedAccess } from '../auth/ended-access.ts';
import type { AppBotNames } from './app-bot-names.ts';
import type { AppDirectory } from './app-directory.ts';
import type { BotReach } from './bot-reach.ts';

/**
 * `ended`, which also drops what this process keeps of an app that an administrator changed at the gateway
 * (disabled or enabled it, edited it, deleted it: an entry of kind `app`), whom it is for included (an edit
 * may narrow its visibility: bot-reach.ts). Every process of the domain hears each entry over the bus, so
 * the change holds on all of them at once, not when the answers they keep age out (REGISTRY_TTL_SECONDS):
 * a disabled app's card clicks, bot posts and tokens are refused from then on (and each process then closes
 * the sockets opened with its tokens: SocketServer.appChanged), its bot may no longer write to people its
 * app is no longer for, nor read what it opened with them (bot-reads.ts), and an app enabled again works
 * again. The list of apps' names that member views mark bots by is asked again as well (a rename, a new app).
 */
export function forgettingChangedApps(
  ended: EndedAccess,
  apps: {
    directory: Pick<AppDirectory, 'forget'>;
    reach: Pick<BotReach, 'forget'>;
    botNames?: Pick<AppBotNames, 'forget'>;
  },
): EndedAccess {
  return {
    ...ended,
    heard(entries) {
      ended.heard(entries);
      for (const entry of entries) {
        if (entry.kind !== 'app') continue;
        apps.directory.forget(entry.subject, entry.clientId);
        apps.reach.forget(entry.subject);
        apps.botNames?.forget();
      }
    },
  };
}
