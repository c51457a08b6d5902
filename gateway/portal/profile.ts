import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../../core/errors.ts';
import { accountClaims } from '../accounts/account-claims.ts';
import type { GatewayContext } from '../context.ts';
import { listDomains, type PresentedDomain } from '../domains/domains.ts';
import { removedDomains, removedHomeOf } from '../domains/removed-domains.ts';
import { domainTitles } from './unit-labels.ts';

/** `title` names the node for people: the units it serves ("College of Arts"), else the domain name. */
export type PortalDomain = {
  name: string;
  title: string;
  url: string;
  socketUrl: string;
  address: string;
  home: boolean;
};
export type PortalProfile = {
  user: { id: string; username: string; name: string; email: string; roles: string[]; homeDomain: string | null };
  domains: PortalDomain[];
  /**
   * When no domain serves the person because the one that did was removed at the gateway: that domain and
   * what people called it ("School of Medicine"), so the page says their college's chat was taken off the
   * campus rather than that it was never set up. Null otherwise.
   */
  chatRemoved: { domain: string; title: string } | null;
};

/** ws(s)://… of a node, from its public URL. */
export function socketUrlOf(nodeUrl: string): string {
  return `${nodeUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`;
}

async function activeUser(ctx: GatewayContext, userId: string) {
  const user = await ctx.models.User.findByPk(userId, { transaction: ctx.tx });
  if (!user || user.status !== 'active') throw new UnauthenticatedError('This account is not active');
  return user;
}

/** Who the page is for and the domain nodes it connects to (home first), with the address on each. */
export async function portalProfile(ctx: GatewayContext, userId: string): Promise<PortalProfile> {
  const user = await activeUser(ctx, userId);
  const [claims, domains] = await Promise.all([accountClaims(ctx, user), listDomains(ctx)]);
  const byName = new Map(domains.map((d) => [d.name, d]));
  const theirs = claims.im_domains.map((name) => byName.get(name)).filter((d): d is PresentedDomain => d !== undefined);
  const titles = await domainTitles(ctx, theirs);
  const removed = theirs.length === 0 ? await removedHomeOf(ctx, claims.org_units) : null;
  return {
    user: {
      id: user.id,
      username: user.username,
      name: user.displayName,
      email: user.email,
      roles: claims.roles,
      homeDomain: claims.im_home_domain,
    },
    domains: theirs.map((d) => ({
      name: d.name,
      title: titles.get(d.name) ?? d.name,
      url: d.url,
      socketUrl: socketUrlOf(d.url),
      address: `${user.username}@${d.name}`,
      home: d.name === claims.im_home_domain,
    })),
    chatRemoved: removed ? { domain: removed.name, title: removed.title } : null,
  };
}

/** The node of one of the user's domains; refuses a domain that is not registered, or not theirs. */
export async function nodeOfUser(ctx: GatewayContext, userId: string, domain: string): Promise<PresentedDomain> {
  const user = await activeUser(ctx, userId);
  const node = (await listDomains(ctx)).find((d) => d.name === domain);
  if (!node) throw new NotFoundError(`No domain ${domain} is registered`);
  const claims = await accountClaims(ctx, user);
  if (!claims.im_domains.includes(domain)) throw new ForbiddenError(`You are not a member of ${domain}`);
  return node;
}

/** How many domains the page asks the titles of at once (a page's conversations name a few hosts). */
export const MAX_DOMAIN_NAMES = 50;

/**
 * Other colleges' nodes as people know them ("School of Law"): the hosts of groups the person is in
 * name them. A domain removed at the gateway is named as it was called then, marked `removed`, so the
 * page can say that college's chat is no longer on the campus. A name no domain was registered under is
 * left out: the page shows it as it is.
 */
export async function titledDomains(
  ctx: GatewayContext,
  names: string[],
): Promise<{ name: string; title: string; removed?: true }[]> {
  const wanted = new Set(names);
  const registered = (await listDomains(ctx)).filter((d) => wanted.has(d.name));
  const titles = await domainTitles(ctx, registered);
  const named: { name: string; title: string; removed?: true }[] = registered.map((d) => ({
    name: d.name,
    title: titles.get(d.name) ?? d.name,
  }));
  if (named.length === wanted.size) return named;
  for (const d of await removedDomains(ctx))
    if (wanted.has(d.name)) named.push({ name: d.name, title: d.title, removed: true });
  return named;
}

/** Every registered node's URL: the resources the portal asks for at sign-in. */
export async function allNodeUrls(ctx: GatewayContext): Promise<string[]> {
  return (await listDomains(ctx)).map((d) => d.url);
}

/**
 * The nodes a portal page may connect to: the registered ones, and those of domains removed at the
 * gateway, so that a page left open while its college's chat was removed connects there again once it is
 * added back, with no reload (as after an outage).
 */
export async function pageNodeUrls(ctx: GatewayContext): Promise<string[]> {
  const [registered, removed] = await Promise.all([allNodeUrls(ctx), removedDomains(ctx)]);
  return [...registered, ...removed.flatMap((d) => (d.url ? [d.url] : []))];
}
