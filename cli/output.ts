import { AppError, ConfigError, SetupError, ValidationError } from '../core/errors.ts';
import { UsageError, type Io, type Output } from './command.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function printOutput(io: Io, json: boolean, output: Output): void {
  if (json) io.stdout.write(`${JSON.stringify(output.json, null, 2)}\n`);
  else if (output.text) io.stdout.write(`${output.text}\n`);
}

type Described = { exit: number; code: string; message: string; fields?: Record<string, string> };

/**
 * Input the operator can fix (bad arguments, configuration, field values, a conflict, something not found)
 * exits with 2; anything else with 1.
 */
function describe(error: unknown): Described {
  if (error instanceof ConfigError) {
    const fields: Record<string, string> = {};
    for (const problem of error.problems) {
      const cut = problem.indexOf(': ');
      const [key, message] = cut === -1 ? ['(config)', problem] : [problem.slice(0, cut), problem.slice(cut + 2)];
      fields[key] = fields[key] ? `${fields[key]}; ${message}` : message;
    }
    return { exit: EXIT_USAGE, code: 'invalid_config', message: 'Invalid configuration', fields };
  }
  if (error instanceof ValidationError) {
    const fields = Object.keys(error.fields).length > 0 ? error.fields : undefined;
    return { exit: EXIT_USAGE, code: error.code, message: error.message, ...(fields ? { fields } : {}) };
  }
  if (error instanceof SetupError) return { exit: EXIT_FAILURE, code: error.code, message: error.message };
  if (error instanceof AppError) {
    return { exit: error.status < 500 ? EXIT_USAGE : EXIT_FAILURE, code: error.code, message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exit: EXIT_FAILURE, code: 'internal', message: `Unexpected error: ${message}` };
}

const wordsOf = (text: string) => text.toLowerCase().match(/[^\s:;,.()"]+/g) ?? [];

/**
 * A field's message that only repeats the headline ("Unknown unit x" over "units: unknown unit x") would
 * print the same thing twice; --json keeps every field for scripts.
 */
function saysNothingMore(fieldMessage: string, headline: string): boolean {
  const said = new Set(wordsOf(headline));
  return wordsOf(fieldMessage).every((word) => said.has(word));
}

/**
 * A field as the operator typed it: an item of a list by its place (`roles.0` is "role 1",
 * `redirectUris.1` "redirect URI 2"), not by the path of the use-case's input.
 */
export function fieldLabel(field: string): string {
  return field.replace(/(?:^|\.)([A-Za-z]+)\.(\d+)(?=\.|$)/g, (whole, name: string, index: string) => {
    const words = name
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toLowerCase()
      .replace(/s$/, '')
      .replace(/\b(uri|url)\b/g, (w) => w.toUpperCase());
    return `${whole.startsWith('.') ? ' ' : ''}${words} ${Number(index) + 1}`;
  });
}

export type ErrorReport = { json: boolean; usage: string; debug: boolean };

/** Prints one error (JSON on stdout under --json, a few lines on stderr otherwise) and returns the exit status. */
export function reportError(io: Io, error: unknown, report: ErrorReport): number {
  const d = describe(error);
  if (report.json) {
    io.stdout.write(
      `${JSON.stringify({ error: { code: d.code, message: d.message, ...(d.fields ? { fields: d.fields } : {}) } }, null, 2)}\n`,
    );
    return d.exit;
  }
  const lines = [`atrium: ${d.message}`];
  for (const [field, message] of Object.entries(d.fields ?? {}))
    if (!saysNothingMore(message, d.message)) lines.push(`  ${fieldLabel(field)}: ${message}`);
  if (error instanceof UsageError) lines.push(`Run "${report.usage} --help" for usage.`);
  if (d.code === 'internal' && report.debug && error instanceof Error && error.stack) lines.push(error.stack);
  io.stderr.write(`${lines.join('\n')}\n`);
  return d.exit;
}
