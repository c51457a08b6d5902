import type { OptionSpec } from './command.ts';

/** How many letters apart a mistyped option may be from the one meant (`--pagesise` for `--page-size`). */
const CLOSE = 2;

/** Letters a mistype may add, drop or change, counted (Levenshtein), on names without case or dashes. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

const bare = (name: string) => name.replace(/^-+/, '').replace(/[-_]/g, '').toLowerCase();

/**
 * The option meant by a mistyped one, if one is close enough to say "did you mean": a few letters off,
 * or the start of it (`--password` for `--password-stdin`).
 */
function closest(typed: string, names: string[]): string | undefined {
  const start = bare(typed);
  const begun = start.length >= 3 ? names.filter((name) => bare(name).startsWith(start)) : [];
  if (begun.length === 1) return begun[0];
  const scored = names
    .map((name) => ({ name, d: distance(bare(typed), bare(name)) }))
    .filter(({ name, d }) => d <= Math.min(CLOSE, bare(name).length - 1))
    .sort((x, y) => x.d - y.d);
  return scored[0]?.name;
}

/**
 * What node:util's parseArgs refused, in the CLI's own words (its own are for programmers: "Unknown
 * option '--pagesize'. To specify a positional argument starting with a '-', …"): the option named, and
 * the one probably meant or those the command takes. `path` is the command (`atrium users list`).
 */
export function optionProblem(error: unknown, path: string, specs: Record<string, OptionSpec>): string {
  const { code, message } = error as { code?: string; message?: string };
  const said = message ?? String(error);
  const names = Object.keys(specs).filter((name) => name !== 'help');
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = /Unknown option '([^']+)'/.exec(said)?.[1] ?? said;
    const meant = closest(typed, names);
    if (meant) return `unknown option "${typed}" (did you mean --${meant}?)`;
    return `unknown option "${typed}" (${path} takes ${names.map((n) => `--${n}`).join(', ')})`;
  }
  const option = /Option '(?:-\w, )?(--[\w-]+)/.exec(said)?.[1];
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    const spec = specs[option.slice(2)];
    if (/does not take an argument/.test(said)) return `${option} takes no value`;
    const example = `${option} ${spec?.value ?? 'VALUE'}`;
    if (/ambiguous/.test(said))
      return `${option} needs a value, as in ${example}; to give one that starts with "-", write ${option}=VALUE`;
    return `${option} needs a value, as in ${example}`;
  }
  const first = said.split('. ')[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
