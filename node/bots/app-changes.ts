import type { EndedAccess } from '../auth/ended-access.ts';
import type { AppDirectory } from './app-directory.ts';

/**
 * `ended`, which also drops what this process keeps of an app that an administrator changed at the gateway
 * (disabled or enabled it, edited it, deleted it: an entry of kind `app`). Every process of the domain hears
 * each entry over the bus, so the change holds on all of them at once, not when the answers they keep age
 * out (REGISTRY_TTL_SECONDS): a disabled app's card clicks, bot posts and tokens are refused from then on,
 * and an app enabled again works again.
 */
export function forgettingChangedApps(ended: EndedAccess, directory: Pick<AppDirectory, 'forget'>): EndedAccess {
  return {
    ...ended,
    heard(entries) {
      ended.heard(entries);
      for (const entry of entries) if (entry.kind === 'app') directory.forget(entry.subject, entry.clientId);
    },
  };
}
