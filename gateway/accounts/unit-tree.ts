import type { GatewayContext } from '../context.ts';
import type { OrgUnit } from '../models/index.ts';
import { adminScopeOf, isWithin, scopeCovers } from './scope.ts';
import { listUnits } from './units.ts';

export type UnitNode = { path: string; name: string; depth: number };

const segments = (path: string) => path.split('/');

/** Orders a parent right before its children, which a plain string sort does not ("a-b" < "a/c"). */
export function byTreeOrder(a: OrgUnit, b: OrgUnit): number {
  const x = segments(a.path);
  const y = segments(b.path);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/**
 * The part of the unit tree the actor administers, in tree order. Depth counts from the top of what the
 * actor sees, so a unit admin's own units sit at depth 0 like the university does for an administrator.
 */
export async function unitTree(ctx: GatewayContext): Promise<UnitNode[]> {
  const scope = adminScopeOf(ctx.actor);
  const units = (await listUnits(ctx)).filter((u) => scopeCovers(scope, u.path)).sort(byTreeOrder);
  return units.map((unit) => {
    const top = scope.all
      ? 1
      : Math.min(...scope.roots.filter((root) => isWithin(unit.path, root)).map((root) => segments(root).length));
    return { path: unit.path, name: unit.name, depth: segments(unit.path).length - top };
  });
}
