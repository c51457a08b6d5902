import * as z from 'zod';

/*
 * One character is a real search in scripts where it is a syllable or a word: a Chinese or Japanese
 * surname (陈, 林) or a Korean one (김). Everywhere else one letter would match nearly everything.
 */
const MEANINGFUL_ALONE = /^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]$/u;

/** Whether a (trimmed) search text says enough to search: two characters, or one CJK ideograph, kana or hangul. */
export function searchTextLongEnough(text: string): boolean {
  return text.length >= 2 || MEANINGFUL_ALONE.test(text);
}

export const SEARCH_TEXT_TOO_SHORT = 'at least 2 characters, or one Chinese, Japanese or Korean character';

/** A search text of at most `max` characters, trimmed, that says enough to search. */
export function searchTextSchema(max: number) {
  return z.string().trim().max(max).refine(searchTextLongEnough, { message: SEARCH_TEXT_TOO_SHORT });
}
