import { scopeCovers, type AdminScope } from './scope.ts';

/** What a unit admin reads for the units of a person outside those they administer. */
export const OUTSIDE_YOURS = 'units outside yours';

type ListedUnit = { path: string; name: string; primary: boolean };

/** A person's unit as the reader may see it: named, or (all those outside their scope at once) not. */
export type SeenUnit = ListedUnit & { outside?: true };

/**
 * A person's units as an administrator may see them: a campus administrator all; a unit admin those they
 * administer, and in place of the others one entry, "units outside yours", which names none of them and
 * lies outside their scope (so that whoever judges from it still finds the person not theirs to manage).
 */
export function unitsAsSeen(scope: AdminScope, units: ListedUnit[]): SeenUnit[] {
  const shown: SeenUnit[] = units.filter((u) => scopeCovers(scope, u.path));
  if (shown.length === units.length) return shown;
  return [...shown, { path: OUTSIDE_YOURS, name: OUTSIDE_YOURS, primary: false, outside: true }];
}
