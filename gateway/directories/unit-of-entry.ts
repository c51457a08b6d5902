import { withoutControlCharacters } from '../../core/control-characters.ts';
import { nameLabel } from '../../core/name-label.ts';
import { unitPathSchema } from '../accounts/schemas.ts';
import { ousBelow } from './dn.ts';
import type { DirectorySettings } from './schemas.ts';

/** Where a person belongs: the unit's path and, for units the sync may have to create, each level's name. */
export type UnitPlace = { path: string; levels: { path: string; name: string }[] };

/** The paths of the units that exist (a sync's UnitIds), to keep the units earlier syncs made where they are. */
export type KnownUnits = { has(path: string): boolean };
const NO_UNITS: KnownUnits = new Set<string>();

/** The deepest a unit path may be (unitPathSchema). */
const MAX_DEPTH = 8;
/** The longest segment of a unit path (unitPathSchema). */
const MAX_SEGMENT = 63;

/**
 * A directory name as one segment of a unit path (nameLabel, at most 63 characters), null when it has no
 * letter or digit of any script: "Rare Books & Maps" → rare-books-maps, "Straße" → strasse, 中文系 →
 * xn--fiq228cwsq.
 */
export function unitSegment(name: string): string | null {
  return nameLabel(name, MAX_SEGMENT);
}

/**
 * The segment earlier versions made of a name: a–z and 0–9 after dropping accents, nothing else ("Straße"
 * → stra-e, "Œuvres" → uvres, "Physics 物理" → physics; null for 中文系). Units synced then are at such
 * paths, and stay there.
 */
export function earlierUnitSegment(name: string): string | null {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, MAX_SEGMENT)
    .replace(/-+$/, '');
  return slug === '' ? null : slug;
}

/**
 * The path below `parent` of a unit named `name`: its segment (unitSegment), unless a unit exists at the
 * segment earlier versions made of the name (earlierUnitSegment), where their syncs put its people. Their
 * units, and the people and chat domains of those units, stay where they are; only a unit not made yet
 * takes the new spelling. The earlier unit wins even when one exists at the new spelling too, since the
 * syncs before put this name's people in it (another name, "Strasse", may have made the other).
 */
function childPath(parent: string, name: string, known: KnownUnits): string | null {
  const segment = unitSegment(name);
  if (!segment) return null;
  const earlier = earlierUnitSegment(name);
  return earlier && earlier !== segment && known.has(`${parent}/${earlier}`)
    ? `${parent}/${earlier}`
    : `${parent}/${segment}`;
}

/**
 * The unit of an entry below the registration's unit root: from the OUs between the user base and the
 * entry (ou=Circulation,ou=Library → root/library/circulation), or from one attribute (department:
 * Library → root/library). No OU or no value: the root itself. Deeper than a unit path may go: the
 * levels below the eighth are left out (the person lands in the deepest one allowed). `known`: the units
 * that exist, so that a unit made before this version's spelling of names keeps its path (childPath).
 */
export function unitOfEntry(
  dn: string,
  values: (name: string) => string[],
  s: DirectorySettings,
  known: KnownUnits = NO_UNITS,
): UnitPlace | { problem: string } {
  const names = s.unitFrom === 'ou' ? ousBelow(dn, s.userBase) : values(s.unitAttribute!).slice(0, 1);
  const room = MAX_DEPTH - s.unitRoot.split('/').length;
  const levels: { path: string; name: string }[] = [];
  let path = s.unitRoot;
  for (const name of names.slice(0, room)) {
    const child = childPath(path, name, known);
    if (!child) return { problem: `its unit "${name}" has no letters or digits to name a unit path with` };
    path = child;
    // The directory's name is taken as it is, only without what would show it turned around (core/plain-names.ts).
    levels.push({ path, name: withoutControlCharacters(name).trim().slice(0, 200) });
  }
  if (!unitPathSchema.safeParse(path).success) return { problem: `its unit path ${path} is not valid` };
  return { path, levels };
}
