import express, { type Request, type RequestHandler, type Response } from 'express';
import { ValidationError, isAppError, type AppError } from '../../core/errors.ts';
import { pageFormBody } from '../http/page-form-body.ts';

const FORM_LIMITS = { limit: '32kb', parameterLimit: 400 };

/** The console's own form parser: small bodies only; repeated fields (checkboxes) arrive as arrays. */
export const formBody = express.urlencoded({ extended: false, ...FORM_LIMITS });

/** What a console form says when what was typed in it is too long to read: it was not, so nothing was saved. */
export const FORM_TOO_LONG =
  'What was typed is too long to be read, so nothing was saved. Shorten it and send the form again.';

/** The failure a form shows again with after a post too large to read: the notice, and the field if known. */
export function tooLongFailure(errors: Record<string, string> = {}, notice = FORM_TOO_LONG): FormFailure {
  return { status: 413, errors, notice };
}

/**
 * The parser of a console form people type into. A body over the console's limit (thousands of characters
 * pasted into a field, in a script that takes several bytes each) is not read: `again` shows the form again
 * with tooLongFailure() where the error page would end the administrator's way. Nothing of such a post is
 * read, its form token included, so `again` shows a page (as opening it would) and never acts.
 */
export function typedFormBody(again: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return pageFormBody(FORM_LIMITS, (req, res, next) => {
    again(req, res).catch(next);
  });
}

export type Body = Record<string, unknown>;

export const bodyOf = (req: Request): Body => (req.body as Body | undefined) ?? {};

export function text(body: Body, name: string): string {
  const value = body[name];
  return typeof value === 'string' ? value : '';
}

/** Checkboxes (repeated fields) or a typed list, one per line or comma-separated. */
export function list(body: Body, name: string): string[] {
  const raw = body[name];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(/[\n\r,]+/))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The units a user form sends: the ticked ones, the primary first, and what became of the primary chosen. */
export type ChosenUnits = {
  units: string[];
  /** The primary unit the person will have: the one chosen, or the first ticked (none ticked: ''). */
  primary: string;
  /** The stored primary unit, left chosen in the form but unticked, whose place the first ticked unit took. */
  dropped: string | null;
};

/**
 * A user's units from checkboxes plus a "primary unit" choice. The use-cases take the first unit as the
 * primary one (it decides the IM home domain), and checkboxes arrive in page order, so the choice is
 * moved to the front. The ticks decide membership: a primary unit that is not ticked is never added.
 * The form shows the stored primary (`stored`) as chosen, so an administrator who unticks it and leaves
 * the choice alone is moving the person out of it, and the first unit still ticked becomes the primary;
 * any other choice that is not ticked contradicts the ticks and is refused.
 */
export function unitsWithPrimary(body: Body, stored: string | null = null): ChosenUnits {
  const primary = text(body, 'primaryUnit').trim();
  const units = list(body, 'units');
  if (!primary || units.includes(primary)) {
    const ordered = primary ? [primary, ...units.filter((u) => u !== primary)] : units;
    return { units: ordered, primary: ordered[0] ?? '', dropped: stillDropped(body, stored, units, ordered[0]) };
  }
  if (primary === stored) return { units, primary: units[0] ?? '', dropped: stored };
  throw new ValidationError(`The primary unit ${primary} is not one of the units ticked; nothing was saved`, {
    primaryUnit: `tick ${primary} above, or choose the primary unit among the units ticked`,
  });
}

/**
 * A form shown again after a refusal (one asking to move their chat) chooses the first ticked unit in the
 * unticked primary's place, and carries the unticked one in `droppedPrimary`: saved again as it was, it is
 * still that untick. Believed only while it is the stored primary, still unticked, and the first ticked
 * unit is still the one chosen.
 */
function stillDropped(body: Body, stored: string | null, ticked: string[], chosen: string | undefined): string | null {
  const carried = text(body, 'droppedPrimary').trim();
  if (!carried || carried !== stored || ticked.includes(carried)) return null;
  return chosen !== undefined && chosen === ticked[0] ? carried : null;
}

export type FormFailure = { status: number; errors: Record<string, string>; notice: string };

/**
 * What a form shows when a use-case refuses its input: messages beside the fields for invalid input
 * (keyed by the field, so "units.2" lands on "units"), one notice for a conflict or a refusal.
 * Anything else is not the user's doing and is rethrown.
 */
export function formFailure(error: unknown): FormFailure {
  if (!isAppError(error) || error.status >= 500) throw error;
  const errors: Record<string, string> = {};
  if (error instanceof ValidationError) {
    for (const [path, message] of Object.entries(error.fields)) errors[path.split('.')[0]!] ??= message;
  }
  return { status: (error as AppError).status, errors, notice: error.message };
}
