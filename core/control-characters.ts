/**
 * Control characters (C0 and C1 codes, tabs and line breaks among them, the line and paragraph
 * separators) and the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
 * After U+202E (right-to-left override) the text around it shows reversed, so a page would show
 * something other than what was typed; escaping HTML does not stop that. Right-to-left text itself, and
 * the marks (U+200E, U+200F) it may need, are none of these.
 */
export const CONTROL_CHARACTER = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
const ALL = new RegExp(CONTROL_CHARACTER.source, 'gu');
// The ones that separate words (tab, line feed, vertical tab, form feed, carriage return, next line, the
// separators): a space keeps those words apart.
const SPACING = /^[\t\n\v\f\r\u0085\u2028\u2029]$/u;

/**
 * Text as a person reads it without those characters: each that separates words becomes a space, the
 * others go, and the spaces that leaves are made one.
 */
export function withoutControlCharacters(text: string): string {
  if (!CONTROL_CHARACTER.test(text)) return text;
  return text
    .replace(ALL, (c) => (SPACING.test(c) ? ' ' : ''))
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** Text with each of those characters shown as its code point (`⟨U+202E⟩`), turning nothing around. */
export function showingControlCharacters(text: string): string {
  return text.replace(ALL, (c) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`);
}
