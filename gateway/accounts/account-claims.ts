import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { domainsServing } from '../domains/domains.ts';
import { nodeUrls } from '../domains/node-urls.ts';
import { membershipsOf } from './memberships.ts';

export type AtriumClaims = {
  sub: string;
  preferred_username: string;
  name: string;
  email: string;
  email_verified: boolean;
  roles: string[];
  org_units: string[];
  im_home_domain: string | null;
  /** The home domain's node URL: what an app names as `resource` for a token there, and the SDK's nodeUrl. */
  im_home_node: string | null;
  im_domains: string[];
  /** Each of im_domains' node URL, by domain. */
  im_nodes: Record<string, string>;
  updated_at: number;
};

/**
 * Everything the gateway asserts about a person. The IM home domain is the one serving the primary unit;
 * im_domains lists every domain serving any of the user's units, home first; im_home_node and im_nodes
 * give their nodes' URLs, so that an app needs no list of its own to write to the person there.
 */
export async function accountClaims(ctx: GatewayContext, user: User): Promise<AtriumClaims> {
  const memberships = (await membershipsOf(ctx, [user.id])).get(user.id) ?? [];
  const paths = memberships.map((m) => m.unit.path);
  const domains = await domainsServing(ctx, paths);
  const present = [...new Set(domains.filter((d): d is string => d !== null))];
  const urls = present.length > 0 ? await nodeUrls(ctx) : new Map<string, string>();
  const home = domains[0] ?? null;
  return {
    sub: user.id,
    preferred_username: user.username,
    name: user.displayName,
    email: user.email,
    email_verified: true,
    roles: user.roles,
    org_units: paths,
    im_home_domain: home,
    im_home_node: (home && urls.get(home)) ?? null,
    im_domains: present,
    im_nodes: Object.fromEntries(present.flatMap((d) => (urls.has(d) ? [[d, urls.get(d)!]] : []))),
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
  };
}
