import { text, type Body, type FormFailure } from './form-input.ts';

/**
 * An edit form says what it showed: its fields as the page sent them, in a hidden field (`shown`) that
 * travels with every refusal after it. A save then changes only what the administrator changed on the
 * page; another administrator's change made meanwhile (a person disabled, a redirect URI removed, a
 * directory's role mapping fixed) is never put back by a form opened before it.
 */

/** An edit form's fields as a browser sends them: each field's text, or the values of its ticked boxes ('' unticked). */
export type FormFields = Record<string, string | string[]>;

/** The hidden field's value, for the page to carry. */
export const shownJson = (fields: Record<string, unknown>): string => JSON.stringify(fields);

/** What a posted form says it showed, or null when it says nothing (a page from before forms carried it). */
export function shownIn(body: Body): Record<string, unknown> | null {
  try {
    const shown: unknown = JSON.parse(text(body, 'shown'));
    return typeof shown === 'object' && shown !== null && !Array.isArray(shown)
      ? (shown as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/**
 * A field's value as compared: text with each line trimmed and blank lines dropped (a browser sends a
 * textarea's lines with CR LF), a list of ticked boxes as a set (one ticked comes as its text alone, none as
 * nothing); an absent field is blank.
 */
function comparable(value: unknown): string {
  if (Array.isArray(value)) return [...new Set(value.map((v) => String(v).trim()).filter(Boolean))].sort().join('\n');
  if (typeof value !== 'string') return '';
  return value
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .join('\n');
}

export type ShownMerge = {
  /** The form as posted, each field left as it was shown replaced by its value now. */
  body: Body;
  /** Fields the administrator changed that someone else also changed, to something else, since. */
  conflicts: string[];
  /** Fields the administrator changed, that the save changes. */
  changed: string[];
};

/**
 * A save from a form that showed `shown`, over what is stored now (`current`, in the same shape): a field
 * left as shown takes its value now, so the use-case sees it unchanged; a field changed on the page is
 * the administrator's, unless someone else changed it since to something else: a conflict, to refuse.
 * Fields the page did not have (a box offered only to some) are left as posted.
 */
export function mergeShown(body: Body, shown: Record<string, unknown>, current: FormFields): ShownMerge {
  const merged: Body = { ...body };
  const changed: string[] = [];
  const conflicts: string[] = [];
  for (const [field, now] of Object.entries(current)) {
    if (!(field in shown)) continue;
    const typed = comparable(body[field]);
    const was = comparable(shown[field]);
    if (typed === was) merged[field] = now;
    else if (typed !== comparable(now)) (was === comparable(now) ? changed : conflicts).push(field);
  }
  return { body: merged, conflicts, changed };
}

/** A value typed into a field, in words for the refusal beside it. */
function typedWords(value: unknown, flag: boolean): string {
  if (flag) return value ? 'ticked' : 'unticked';
  const words = Array.isArray(value) ? value.join(', ') : comparable(value).replace(/\n/g, ', ');
  if (words === '') return '(blank)';
  return words.length > 200 ? `${words.slice(0, 200)}…` : words;
}

export type StaleFormWords = {
  /** What the page edits, as its notice names it: `dave`, `app Library`, `directory campus-ad`. */
  what: string;
  /** A person, said as "them" rather than "it". */
  person?: boolean;
  /** Each field's name in words (`redirectUris`: `redirect URIs`). */
  labels: Record<string, string>;
  /** Fields that are a checkbox, said as ticked or unticked. */
  flags?: string[];
  /** Where a field's message goes when the page shows it under another name (`visibilityUnits`: `visibility`). */
  errorKeys?: Record<string, string>;
};

/**
 * The refusal of a save whose changes someone else changed since the page was opened (`conflicts`), or of
 * a form that does not say what it showed (none): nothing was saved, and the page shows what is stored now,
 * each such field saying what the administrator had chosen.
 */
export function staleFormFailure(body: Body, conflicts: string[] | null, words: StaleFormWords): FormFailure {
  const asNow = words.person ? 'them as they are now' : 'it as it is now';
  if (conflicts === null)
    return {
      status: 409,
      errors: {},
      notice: `This form does not say how ${words.what} was when it was opened, so what was changed on it cannot be told: nothing was saved. The form shows ${asNow}; make your changes again.`,
    };
  const errors: Record<string, string> = {};
  for (const field of conflicts) {
    const key = words.errorKeys?.[field] ?? field;
    const value = typedWords(body[field], words.flags?.includes(field) ?? false);
    // A field shown under another's name (one of two lists) says which it is.
    const chosen = key === field ? value : `${words.labels[field] ?? field} ${value}`;
    errors[key] = errors[key]
      ? `${errors[key].replace(/\.$/, '')}; ${chosen}.`
      : `Changed by someone else since you opened this page, and shown as it is now; you had chosen: ${chosen}.`;
  }
  const fields = conflicts.map((field) => words.labels[field] ?? field).join(', ');
  return {
    status: 409,
    errors,
    notice: `${words.what} was changed since you opened this page (${fields}): nothing was saved. The form shows ${asNow}; make your changes again.`,
  };
}
