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

/**
 * Whether another domain's `address` is an app's bot there, by that domain's node (its answer to the
 * address check, remembered briefly: federation/address-book.ts); the name of its app when this node
 * knows the app too (slugs are one namespace on the campus), else the address. Null for a person, and
 * for an address of a node from before it told bots apart. Asks that node when not remembered, so it
 * fails (retryably) while that node cannot be reached.
 */
export async function remoteBotName(ctx: NodeContext, address: string, field: string): Promise<string | null> {
  if (domainOf(address) === ctx.domain || !couldBeAppSlug(userOf(address))) return null;
  const bots = await ctx.addresses.botsAmong([address], field);
  if (!bots.includes(address)) return null;
  return (await ctx.apps.botNames.get()).get(userOf(address)) ?? address;
}

/** The name of the app whose bot an address is, as a member list marks it; undefined for anyone else. */
export type BotNameOf = (address: string) => string | undefined;

/**
 * How member lists tell apps' bots: those of the apps this node may host, at this domain, by one list of
 * them that the node keeps (app-bot-names.ts), so marking a thousand members costs a thousand map reads
 * and no request. Another domain's bots are not marked (only their node can tell, and it is not asked
 * for a view): their own node marks them in its copy.
 */
export async function botNamesFor(ctx: Pick<NodeContext, 'apps' | 'domain'>): Promise<BotNameOf> {
  const names = await ctx.apps.botNames.get();
  return (address) => (domainOf(address) === ctx.domain ? names.get(userOf(address)) : undefined);
}
