import { isSubgroup, type Command, type CommandGroup, type Entry, type OptionSpec } from './command.ts';

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'print one JSON document on stdout (errors too)' },
  help: { type: 'boolean', help: 'show this help' },
};

const FOOTER = [
  'Configuration comes from the environment (DATABASE_URL, ATRIUM_DATA_DIR, GATEWAY_PORT, ...),',
  'optionally merged over the JSON file named by ATRIUM_CONFIG_FILE.',
  'Exit status: 0 success, 1 failure, 2 usage or validation error.',
].join('\n');

function optionLabel(name: string, spec: OptionSpec): string {
  return spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
}

function columns(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
}

export function synopsis(path: string, command: Command): string {
  const parts = [path, ...(command.args ?? [])];
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const label = `${optionLabel(name, spec)}${spec.multiple ? '...' : ''}`;
    parts.push(spec.required ? label : `[${label}]`);
  }
  return parts.join(' ');
}

/** A group's words, a subgroup's with its own (`rotate, list` or `keys (rotate, list)`), from the table itself. */
export function groupWords(group: CommandGroup): string {
  return Object.entries(group)
    .map(([name, item]) => (isSubgroup(item) ? `${name} (${groupWords(item.group)})` : name))
    .join(', ');
}

const groupRows = (group: CommandGroup) =>
  Object.entries(group).map(([name, item]): [string, string] => [
    name,
    isSubgroup(item) ? `${item.summary}: ${groupWords(item.group)}` : item.summary,
  ]);

/** Help for one command; a command that also has subcommands (`atrium node`) lists them after its options. */
export function commandHelp(path: string, command: Command, subcommands?: CommandGroup): string {
  const options = { ...command.options, ...GLOBAL_OPTIONS };
  const rows = Object.entries(options).map(([name, spec]): [string, string] => [
    optionLabel(name, spec),
    `${spec.help}${spec.multiple ? ' (repeatable)' : ''}${spec.required ? ' (required)' : ''}`,
  ]);
  const more = subcommands
    ? ['', 'Commands:', columns(groupRows(subcommands)), '', `Run "${path} COMMAND --help" for theirs.`]
    : [];
  return [
    `Usage: ${synopsis(path, command)}`,
    '',
    command.summary,
    '',
    'Options:',
    columns(rows),
    ...(command.notes ? ['', command.notes] : []),
    ...more,
    '',
    FOOTER,
  ].join('\n');
}

export function groupHelp(path: string, summary: string, group: CommandGroup): string {
  const rows = groupRows(group).map(([name, text]): [string, string] => [
    isSubgroup(group[name]!) ? `${name} ...` : name,
    text,
  ]);
  return [
    `Usage: ${path} COMMAND [ARGS] [--json]`,
    '',
    summary,
    '',
    'Commands:',
    columns(rows),
    '',
    `Run "${path} COMMAND --help" for its options.`,
  ].join('\n');
}

/** A top-level word's line: its summary, and for a group every word below it (loaded here, help being rare). */
async function entryRow(name: string, entry: Entry): Promise<[string, string]> {
  if (!entry.group) return [name, entry.summary];
  const words = groupWords(await entry.group());
  return [name, entry.command ? `${entry.summary}; also: ${words}` : `${entry.summary}: ${words}`];
}

export async function topHelp(entries: Record<string, Entry>): Promise<string> {
  const rows = await Promise.all(Object.entries(entries).map(([name, entry]) => entryRow(name, entry)));
  return [
    'Usage: atrium COMMAND [ARGS] [--json]',
    '',
    'Operator command line of Atrium, the campus identity gateway and messenger.',
    '',
    'Commands:',
    columns(rows),
    '',
    'Run "atrium COMMAND --help" (or "atrium help COMMAND") for its options.',
    FOOTER,
  ].join('\n');
}
