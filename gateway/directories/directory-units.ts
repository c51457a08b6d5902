import { randomUUID } from 'node:crypto';
import { audit } from '../audit.ts';
import { parentPathOf, selfAndAncestors } from '../accounts/units.ts';
import type { GatewayContext } from '../context.ts';
import type { UnitPlace } from './unit-of-entry.ts';

/** Every unit's id by path, read once per sync: a campus has hundreds of units, not millions. */
export type UnitIds = Map<string, string>;

export async function loadUnitIds(ctx: GatewayContext): Promise<UnitIds> {
  const units = await ctx.models.OrgUnit.findAll({ attributes: ['id', 'path'], transaction: ctx.tx });
  return new Map(units.map((u) => [u.path, u.id]));
}

/** The levels of a path below `root` that a unit-admin group names, each named by its own segment. */
export function levelsOfPath(path: string, root: string): UnitPlace['levels'] {
  return selfAndAncestors(path)
    .filter((p) => p.length > root.length && p.startsWith(`${root}/`))
    .reverse()
    .map((p) => ({ path: p, name: p.slice(p.lastIndexOf('/') + 1) }));
}

/**
 * Creates the units of `levels` that do not exist yet, parents first, each audited; returns how many.
 * A unit that exists keeps its name: an administrator may have named it better than the OU is.
 */
export async function ensureUnits(
  ctx: GatewayContext,
  ids: UnitIds,
  levels: UnitPlace['levels'],
  directory: string,
): Promise<number> {
  let created = 0;
  const wanted = [...new Map(levels.map((l) => [l.path, l])).values()].sort(
    (a, b) => a.path.split('/').length - b.path.split('/').length,
  );
  for (const level of wanted) {
    if (ids.has(level.path)) continue;
    const parentPath = parentPathOf(level.path);
    const parentId = parentPath ? ids.get(parentPath) : undefined;
    if (parentPath && !parentId) throw new Error(`unit ${parentPath} is missing below the directory's unit root`);
    const unit = await ctx.models.OrgUnit.create(
      { id: randomUUID(), path: level.path, name: level.name, parentId: parentId ?? null },
      { transaction: ctx.tx },
    );
    ids.set(unit.path, unit.id);
    await audit(ctx, { action: 'unit.create', target: unit.path, details: { name: unit.name, directory } });
    created += 1;
  }
  return created;
}
