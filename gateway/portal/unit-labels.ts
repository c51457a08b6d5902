import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import { parentPathOf } from '../accounts/units.ts';

/** The most unit paths the page asks about at once (one directory answer holds at most 50 people). */
export const MAX_UNIT_PATHS = 100;

export type UnitLabel = { path: string; name: string; label: string };

/** The names of these units, by path; paths of no unit are left out. */
async function namesOf(ctx: GatewayContext, paths: string[]): Promise<Map<string, string>> {
  if (paths.length === 0) return new Map();
  const units = await ctx.models.OrgUnit.findAll({
    attributes: ['path', 'name'],
    where: { path: { [Op.in]: [...new Set(paths)] } },
    transaction: ctx.tx,
  });
  return new Map(units.map((u) => [u.path, u.name]));
}

/** The parent a unit is named with: none for the top of the tree or a unit right below it. */
function namedParentOf(path: string): string | null {
  const parent = parentPathOf(path);
  return parent !== null && parentPathOf(parent) !== null ? parent : null;
}

/**
 * Units as people read them: a unit's name, then its parent's ("Department of Music, College of Arts"),
 * since two colleges may each have a department of the same name. The top of the tree (the university,
 * which every unit is in) is not named. A path of no unit (removed since) is left out: the page shows it as it is.
 */
export async function unitLabels(ctx: GatewayContext, paths: string[]): Promise<UnitLabel[]> {
  const unique = [...new Set(paths)];
  const named = new Map(unique.map((path) => [path, namedParentOf(path)]));
  const names = await namesOf(ctx, [...unique, ...[...named.values()].filter((p) => p !== null)]);
  return unique.flatMap((path) => {
    const name = names.get(path);
    if (name === undefined) return [];
    const parent = named.get(path);
    const within = parent ? names.get(parent) : undefined;
    return [{ path, name, label: within !== undefined ? `${name}, ${within}` : name }];
  });
}

const AND = new Intl.ListFormat('en', { type: 'conjunction' });

/**
 * What a domain node is called where people read it (a banner saying it cannot be reached): the names of
 * the units it serves ("College of Arts"), or its domain name when it serves none (a partner's domain).
 */
export async function domainTitles(
  ctx: GatewayContext,
  domains: { name: string; units: string[] }[],
): Promise<Map<string, string>> {
  const names = await namesOf(
    ctx,
    domains.flatMap((d) => d.units),
  );
  return new Map(
    domains.map((d) => {
      const served = d.units.map((p) => names.get(p)).filter((n): n is string => n !== undefined);
      return [d.name, served.length > 0 ? AND.format(served) : d.name];
    }),
  );
}
