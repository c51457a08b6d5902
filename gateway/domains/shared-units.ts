import { QueryTypes } from 'sequelize';
import type { GatewayContext } from '../context.ts';

/** A unit two or more domains serve, and the one its people's IM home goes to. */
export type SharedUnit = { unit: string; domains: string[]; home: string };

/**
 * Units linked to more than one domain. Adding or changing a domain can no longer create one
 * (domains.ts), but a database from before that rule may hold some; they keep working, the first
 * domain by name winning (readDomainsServing), and the operator is shown which to untangle.
 */
export async function sharedUnits(ctx: GatewayContext): Promise<SharedUnit[]> {
  // Ordered as readDomainsServing orders its tie-break, so `home` is the domain the claims name.
  const links = await ctx.sequelize.query<{ path: string; name: string }>(
    `SELECT u.path AS path, d.name AS name FROM domain_units l
       JOIN org_units u ON u.id = l.unit_id
       JOIN domains d ON d.id = l.domain_id
     ORDER BY u.path, d.name`,
    { type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  const byUnit = new Map<string, string[]>();
  for (const { path, name } of links) byUnit.set(path, [...(byUnit.get(path) ?? []), name]);
  return [...byUnit]
    .filter(([, domains]) => domains.length > 1)
    .map(([unit, domains]) => ({ unit, domains, home: domains[0]! }));
}

/** One line per shared unit, for the console and the CLI alike. */
export function describeSharedUnit({ unit, domains, home }: SharedUnit): string {
  return (
    `${unit} is served by ${domains.join(' and ')}: its people's IM home is ${home}, the first by name. ` +
    'Keep the unit on one of them only to choose.'
  );
}
