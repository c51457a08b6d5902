import { toPunycode } from './punycode.ts';
import { foldForSearch } from './search-text.ts';

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
 * A name as a label of a–z, 0–9 and `-` of at most `max` characters, null when it has no letter or digit
 * of any script: what a unit path's segment and an app's slug are made of. The name is folded as people
 * search it, and anything but letters and digits becomes `-`: "Rare Books & Maps" → rare-books-maps,
 * "Straße" → strasse, "Œuvres" → oeuvres. A name that keeps letters beyond a–z (中文系, Физика,
 * "Physics 物理") is spelled as IDNA spells such a domain label, `xn--` and its Punycode: xn--fiq228cwsq,
 * the same for the same name every time, and read back by any IDNA decoder. Past `max` characters, the
 * name is cut (a letter at a time) until its spelling fits.
 */
export function nameLabel(name: string, max: number): string | null {
  let label = foldName(name)
    .replace(/[^\p{L}\p{N}\p{M}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  if (label === '') return null;
  if (/^[a-z0-9-]+$/.test(label)) return label.slice(0, max).replace(/-+$/, '');
  for (;;) {
    const spelled = `xn--${toPunycode(label)}`;
    if (spelled.length <= max) return spelled;
    label = Array.from(label).slice(0, -1).join('').replace(/-+$/, '');
  }
}
