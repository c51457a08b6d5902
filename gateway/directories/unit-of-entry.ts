import { withoutControlCharacters } from '../../core/control-characters.ts';
import { toPunycode } from '../../core/punycode.ts';
import { foldForSearch } from '../../core/search-text.ts';
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
 * Letters whose marks are accents (é, ά, й): dropped as a search drops them. In other scripts a mark is
 * often a vowel (the ि of हिन्दी), which names differ by: kept.
 */
const ACCENTED = /^[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]/u;

/** A name folded as people search it (foldForSearch: ß → ss, Œ → oe, Ł → l, accents dropped), marks of other scripts kept. */
function foldName(name: string): string {
  return (name.normalize('NFKD').match(/\P{M}\p{M}*|\p{M}+/gu) ?? [])
    .map((letter) => (ACCENTED.test(letter) ? foldForSearch(letter) : letter.toUpperCase().toLowerCase()))
    .join('')
    .normalize('NFC');
}

/**
 * A directory name as one segment of a unit path, null when it has no letter or digit of any script. The
 * name is folded as people search it, and anything but letters and digits becomes `-`: "Rare Books & Maps"
 * → rare-books-maps, "Straße" → strasse, "Œuvres" → oeuvres. A name that keeps letters beyond a–z (中文系,
 * Физика, "Physics 物理") is spelled as IDNA spells such a domain label, `xn--` and its Punycode:
 * xn--fiq228cwsq, the same for the same name every time, and read back by any IDNA decoder. Past 63
 * characters, the name is cut (a letter at a time) until its spelling fits.
 */
export function unitSegment(name: string): string | null {
  let slug = foldName(name)
    .replace(/[^\p{L}\p{N}\p{M}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  if (slug === '') return null;
  if (/^[a-z0-9-]+$/.test(slug)) return slug.slice(0, MAX_SEGMENT).replace(/-+$/, '');
  for (;;) {
    const segment = `xn--${toPunycode(slug)}`;
    if (segment.length <= MAX_SEGMENT) return segment;
    slug = Array.from(slug).slice(0, -1).join('').replace(/-+$/, '');
  }
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
