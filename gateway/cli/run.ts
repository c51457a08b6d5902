import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError, type Args, type Command, type Io } from './command.ts';
import { COMMANDS } from './commands.ts';
import { commandHelp, GLOBAL_OPTIONS, groupHelp, topHelp } from './help.ts';
import { EXIT_OK, EXIT_USAGE, printOutput, reportError } from './output.ts';

const GLOBAL_FLAGS = new Set(['--json', '--help', '-h']);

/** Runs one command line and returns the exit status. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const beforeDashes = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  const json = beforeDashes.includes('--json');
  const wantsHelp = beforeDashes.includes('--help') || beforeDashes.includes('-h');
  const where = { path: 'atrium' };
  try {
    const { path, command, rest, help } = await resolveCommand(argv, where);
    if (!command) {
      if (wantsHelp) {
        io.stdout.write(`${help}\n`);
        return EXIT_OK;
      }
      if (json) throw new UsageError('missing command');
      io.stderr.write(`${help}\n`);
      return EXIT_USAGE;
    }
    const args = parseCommandArgs(command, rest);
    if (args.flag('help')) {
      io.stdout.write(`${commandHelp(path, command)}\n`);
      return EXIT_OK;
    }
    const output = await command.run(args, io);
    if (output) printOutput(io, json, output);
    return EXIT_OK;
  } catch (error) {
    return reportError(io, error, { json, usage: where.path, debug: ['debug', 'trace'].includes(io.env.LOG_LEVEL ?? '') });
  }
}

type Resolved = { path: string; command: Command | null; rest: string[]; help: string };

/** Finds the command named by the leading words (`users add`), keeping global flags wherever they stand. */
async function resolveCommand(argv: string[], where: { path: string }): Promise<Resolved> {
  const tokens = [...argv];
  const globals: string[] = [];
  const nextWord = () => {
    while (tokens[0] !== undefined && GLOBAL_FLAGS.has(tokens[0])) globals.push(tokens.shift()!);
    return tokens.shift();
  };

  const name = nextWord();
  if (name === undefined) return { path: 'atrium', command: null, rest: [], help: topHelp(COMMANDS) };
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) throw new UsageError(`unknown command "${name}"`);
  const path = `atrium ${name}`;
  where.path = path;
  if ('command' in entry) return { path, command: await entry.command(), rest: [...globals, ...tokens], help: '' };

  const group = await entry.group();
  const help = groupHelp(path, entry.summary, group);
  const sub = nextWord();
  if (sub === undefined) return { path, command: null, rest: [], help };
  const command = Object.hasOwn(group, sub) ? group[sub] : undefined;
  if (!command) throw new UsageError(`unknown command "${name} ${sub}" (one of: ${Object.keys(group).join(', ')})`);
  where.path = `${path} ${sub}`;
  return { path: where.path, command, rest: [...globals, ...tokens], help };
}

function parseCommandArgs(command: Command, rest: string[]): Args {
  const specs = { ...command.options, ...GLOBAL_OPTIONS };
  const options: ParseArgsOptionsConfig = {};
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type, multiple: spec.multiple ?? false };
  options.help = { type: 'boolean', short: 'h' };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util explains how to pass a positional that starts with "-"; the first sentence is the useful part.
    throw new UsageError((error as Error).message.split('. ')[0]!.replace(/\.$/, ''));
  }
  const values = parsed.values as Record<string, string | boolean | (string | boolean)[] | undefined>;
  const args: Args = {
    positionals: parsed.positionals,
    json: values.json === true,
    string: (name) => (typeof values[name] === 'string' ? values[name] : undefined),
    list: (name) => (Array.isArray(values[name]) ? values[name].map(String) : []),
    flag: (name) => values[name] === true,
  };
  if (args.flag('help')) return args;

  const expected = command.args ?? [];
  if (parsed.positionals.length < expected.length) throw new UsageError(`missing ${expected.slice(parsed.positionals.length).join(' ')}`);
  if (parsed.positionals.length > expected.length) throw new UsageError(`unexpected argument "${parsed.positionals[expected.length]}"`);
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const given = spec.multiple ? args.list(name).length > 0 : values[name] !== undefined;
    if (spec.required && !given) throw new UsageError(`missing --${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`);
  }
  return args;
}
