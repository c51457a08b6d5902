import { domainOf, userOf } from '../../protocol/address.ts';
import { couldBeAppSlug, type AppInfo } from '../bots/app-directory.ts';
import type { NodeContext } from '../context.ts';

/**
 * The app whose bot `address` is, when it is a bot of this domain (its app turned off or not: it may be
 * turned on again), else null. The gateway keeps apps' slugs apart from people's usernames, so
 * `slug@this-domain` of a registered app is its bot. A bot only posts, as its app says: it never owns or
 * runs a group (set-role.ts, leave-group.ts). The gateway's answer is kept (REGISTRY_TTL_SECONDS), and may
 * take a request: ask before a group is locked.
 */
export async function appOfBot(ctx: NodeContext, address: string): Promise<AppInfo | null> {
  const user = userOf(address);
  if (domainOf(address) !== ctx.domain || !couldBeAppSlug(user)) return null;
  return ctx.apps.directory.get(user);
}
