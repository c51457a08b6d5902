/**
 * A moment as Atrium writes it where no browser shows it in the reader's own zone (the CLI, logs, a text
 * file, a page without JavaScript): `2026-12-07 05:00:00 UTC`, the zone said, never left to be guessed.
 */
export function utcText(at: Date): string {
  return `${at.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** Each moment written by utcText in a text: its date and its time. */
export const UTC_TEXT = /\b(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC\b/g;
