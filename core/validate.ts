import type { z } from 'zod';
import { ValidationError, type FieldErrors } from './errors.ts';

/** What a field no schema names is told: on a socket as over HTTP. */
export const UNKNOWN_FIELD = 'unknown field';

/** Turns zod issues into one message per field, keyed by the dotted path. */
export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    // A strict object names the fields it does not know in one issue: each is told by its own name.
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) fields[[...issue.path, name].join('.')] ??= UNKNOWN_FIELD;
      continue;
    }
    const key = issue.path.length > 0 ? issue.path.join('.') : '_';
    fields[key] ??= issue.message;
  }
  return fields;
}

/** The fields a strict schema did not know, by their dotted paths. */
export function unknownFieldsOf(error: z.ZodError): string[] {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k].join('.')) : [],
  );
}

/**
 * What a refusal says when fields were not known: their names first, since a misspelt field or one this
 * version does not have is what the client most needs to hear of (its other problems are in `fields`).
 */
export function unknownFieldsMessage(names: readonly string[]): string {
  return `Unknown field${names.length > 1 ? 's' : ''}: ${names.join(', ')}`;
}

/** A refusal's message: the unknown fields when there are any, else `message`. */
export function refusalMessage(error: z.ZodError, message: string): string {
  const unknown = unknownFieldsOf(error);
  return unknown.length > 0 ? unknownFieldsMessage(unknown) : message;
}

/** Parses input at an edge; anything that does not fit becomes a ValidationError with field errors. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  message = 'Some fields are invalid',
): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(refusalMessage(result.error, message), fieldErrorsOf(result.error));
  return result.data;
}

/**
 * Refuses the fields of an HTTP body that `schema` does not name, as a socket refuses a frame's
 * (`invalid_input`, each `unknown field`): a misspelt field fails instead of being dropped while the rest
 * is done. For a use-case whose schema stays open because it also takes whole socket frames (their `v`,
 * `id` and `type` beside its fields, checked by the frame schema already). `fromPath` are the fields the
 * route takes from its path, which the body must not give again. Anything but an object is the schema's.
 */
export function refuseUnknownFields(input: unknown, schema: z.ZodObject, fromPath: readonly string[] = []): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return;
  const unknown = Object.keys(input).filter((name) => !Object.hasOwn(schema.shape, name) || fromPath.includes(name));
  if (unknown.length === 0) return;
  throw new ValidationError(
    unknownFieldsMessage(unknown),
    Object.fromEntries(unknown.map((name) => [name, UNKNOWN_FIELD])),
  );
}
