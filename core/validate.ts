import type { z } from 'zod';
import { ValidationError, type FieldErrors } from './errors.ts';

/** Turns zod issues into one message per field, keyed by the dotted path. */
export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    // A strict object names the fields it does not know in one issue: each is told by its own name.
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) fields[[...issue.path, name].join('.')] ??= 'unknown field';
      continue;
    }
    const key = issue.path.length > 0 ? issue.path.join('.') : '_';
    fields[key] ??= issue.message;
  }
  return fields;
}

/** Parses input at an edge; anything that does not fit becomes a ValidationError with field errors. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  message = 'Some fields are invalid',
): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(message, fieldErrorsOf(result.error));
  return result.data;
}
