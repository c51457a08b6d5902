import { unitPathSchema } from '../accounts/schemas.ts';
import { ousBelow } from './dn.ts';
import type { DirectorySettings } from './schemas.ts';

/** Where a person belongs: the unit's path and, for units the sync may have to create, each level's name. */
export type UnitPlace = { path: string; levels: { path: string; name: string }[] };

/** The deepest a unit path may be (unitPathSchema). */
const MAX_DEPTH = 8;

/** A directory name as one segment of a unit path: "Rare Books & Maps" → rare-books-maps; null when nothing is left. */
export function unitSegment(name: string): string | null {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return slug === '' ? null : slug;
}

/**
 * The unit of an entry below the registration's unit root: from the OUs between the user base and the
 * entry (ou=Circulation,ou=Library → root/library/circulation), or from one attribute (department:
 * Library → root/library). No OU or no value: the root itself. Deeper than a unit path may go: the
 * levels below the eighth are left out (the person lands in the deepest one allowed).
 */
export function unitOfEntry(
  dn: string,
  values: (name: string) => string[],
  s: DirectorySettings,
): UnitPlace | { problem: string } {
  const names = s.unitFrom === 'ou' ? ousBelow(dn, s.userBase) : values(s.unitAttribute!).slice(0, 1);
  const room = MAX_DEPTH - s.unitRoot.split('/').length;
  const levels: { path: string; name: string }[] = [];
  let path = s.unitRoot;
  for (const name of names.slice(0, room)) {
    const segment = unitSegment(name);
    if (!segment) return { problem: `its unit "${name}" has no letters or digits to name a unit path with` };
    path = `${path}/${segment}`;
    levels.push({ path, name: name.trim().slice(0, 200) });
  }
  if (!unitPathSchema.safeParse(path).success) return { problem: `its unit path ${path} is not valid` };
  return { path, levels };
}
