import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { domainsServing } from '../domains/domains.ts';
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
  im_domains: string[];
  updated_at: number;
};

/**
 * Everything the gateway asserts about a person. The IM home domain is the one serving the primary unit;
 * im_domains lists every domain serving any of the user's units, home first.
 */
export async function accountClaims(ctx: GatewayContext, user: User): Promise<AtriumClaims> {
  const memberships = (await membershipsOf(ctx, [user.id])).get(user.id) ?? [];
  const paths = memberships.map((m) => m.unit.path);
  const domains = await domainsServing(ctx, paths);
  const present = domains.filter((d): d is string => d !== null);
  return {
    sub: user.id,
    preferred_username: user.username,
    name: user.displayName,
    email: user.email,
    email_verified: true,
    roles: user.roles,
    org_units: paths,
    im_home_domain: domains[0] ?? null,
    im_domains: [...new Set(present)],
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
  };
}
