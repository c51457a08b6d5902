import type { z } from 'zod';
import { CONTROL_CHARACTER } from './control-characters.ts';
import { foldForSearch } from './search-text.ts';

/**
 * What shows as nothing on its own: spaces of every width, and the code points a font draws as nothing
 * (Unicode's Default_Ignorable_Code_Point: zero-width space and joiners, word joiner, byte order mark,
 * soft hyphen, marks of direction, variation selectors, Hangul fillers), control characters and the
 * Braille blank.
 */
const INVISIBLE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\u2800]/gu;

export const CONTROL_IN_NAME =
  'cannot contain control characters (line breaks, tabs, or those that turn text around, such as U+202E): type it as plain text';
export const INVISIBLE_NAME = 'needs a visible character: spaces and invisible characters alone show as nothing';

/** Whether something would show of the text: a letter, digit, mark or symbol, not only spaces and invisible characters. */
export const showsSomething = (text: string) => text.replace(INVISIBLE, '') !== '';

/**
 * Why a name people read (a person's, a unit's, an app's, a group's title, a webhook's) cannot be kept as
 * typed, or null: a control or bidi character (core/control-characters.ts) would show it, and what follows
 * it on a page, other than it was typed; a name of invisible characters alone names nobody to the eye.
 */
export function plainNameProblem(name: string): string | null {
  if (CONTROL_CHARACTER.test(name)) return CONTROL_IN_NAME;
  if (name !== '' && !showsSomething(name)) return INVISIBLE_NAME;
  return null;
}

/** `schema` (a string, trimmed) that also refuses what plainNameProblem refuses, with its message. */
export function plainName<S extends z.ZodType<string>>(schema: S): S {
  return schema.superRefine((name, ctx) => {
    const problem = plainNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }) as unknown as S;
}

/**
 * A name as people tell names apart on a screen, to compare two: compatibility forms, case and accents
 * folded as a search folds them (ｃａｒｏｌ, CAROL and Cärol are carol), invisible characters dropped, and
 * every run of spaces, punctuation and symbols one space. Empty for a name of none of letters or digits.
 */
export function nameKey(name: string): string {
  return foldForSearch(name.replace(INVISIBLE, (c) => (/\s/u.test(c) ? ' ' : '')))
    .replace(/[\p{P}\p{S}\p{Z}\s]+/gu, ' ')
    .trim();
}
