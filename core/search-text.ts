/**
 * Latin letters no decomposition splits into a base letter and a mark, as their languages spell them in
 * ASCII; and the final sigma, which lower case keeps apart from σ.
 */
const LETTERS: Record<string, string> = { æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ς: 'σ' };

/** The most a search text keeps (a column of this many characters): a name, a username and an address fit. */
export const SEARCH_TEXT_MAX = 1000;

/**
 * Text as a search compares it, whatever the database and its collation: compatibility forms unfolded
 * (ﬁ → fi, full-width Ａ → a), case folded in every script (Ü → ü, Σ and ς → σ, ß → ss), accents and other
 * marks dropped (ü → u, é → e), and the Latin letters that carry no mark spelled as their languages do in
 * ASCII (ø → o, ł → l). So "unï", "UNI" and "Üni" all find "Ünïcødé". Line breaks become spaces.
 */
export function foldForSearch(text: string): string {
  return text
    .normalize('NFKD')
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[æœøłđðþς]/g, (letter) => LETTERS[letter] ?? letter)
    .replace(/[\r\n]+/g, ' ');
}

/**
 * What a row is found by: its searchable fields folded, one a line, so that no search matches across two
 * of them (a search, folded, has no line break).
 */
export function searchTextOf(fields: string[]): string {
  return fields
    .map(foldForSearch)
    .join('\n')
    .slice(0, SEARCH_TEXT_MAX)
    .replace(/[\uD800-\uDBFF]$/, '');
}
