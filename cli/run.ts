import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { isSubgroup, UsageError, type Args, type Command, type Io } from './command.ts';
import { COMMANDS } from './commands.ts';
import { commandHelp, GLOBAL_OPTIONS, groupHelp, topHelp } from './help.ts';
import { optionProblem } from './option-problems.ts';
import { EXIT_OK, EXIT_USAGE, printOutput, reportError } from './output.ts';

const GLOBAL_FLAGS = new Set(['--json', '--help', '-h']);

/** `atrium help [COMMAND...]` is `atrium [COMMAND...] --help`. */
function helpWord(argv: string[]): string[] {
  const at = argv.findIndex((word) => !GLOBAL_FLAGS.has(word));
  if (argv[at] !== 'help') return argv;
  return [...argv.slice(0, at), ...argv.slice(at + 1), '--help'];
}

/** Runs one command line and returns the exit status. */
export async function runCli(words: string[], io: Io): Promise<number> {
  const argv = helpWord(words);
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
    const args = parseCommandArgs(command, rest, path);
    if (args.flag('help')) {
      io.stdout.write(`${help || commandHelp(path, command)}\n`);
      return EXIT_OK;
    }
    const output = await command.run(args, io);
    if (output) printOutput(io, json, output);
    return EXIT_OK;
  } catch (error) {
    return reportError(io, error, {
      json,
      usage: where.path,
      debug: ['debug', 'trace'].includes(io.env.LOG_LEVEL ?? ''),
    });
  }
}

type Resolved = { path: string; command: Command | null; rest: string[]; help: string };

/**
 * Finds the command named by the leading words (`users add`, `node keys rotate`), keeping global flags
 * wherever they stand. A word that is both a command and a group (`node`) runs as the command unless the
 * next word names one of its subcommands.
 */
async function resolveCommand(argv: string[], where: { path: string }): Promise<Resolved> {
  const tokens = [...argv];
  const globals: string[] = [];
  const skipGlobals = () => {
    while (tokens[0] !== undefined && GLOBAL_FLAGS.has(tokens[0])) globals.push(tokens.shift()!);
  };
  const rest = () => [...globals, ...tokens];

  skipGlobals();
  const name = tokens.shift();
  if (name === undefined) return { path: 'atrium', command: null, rest: [], help: await topHelp(COMMANDS) };
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) throw new UsageError(`unknown command "${name}"`);
  let path = `atrium ${name}`;
  where.path = path;
  let summary = entry.summary;
  let command = entry.command ? await entry.command() : undefined;
  let group = entry.group ? await entry.group() : undefined;

  for (;;) {
    if (!group) return { path, command: command!, rest: rest(), help: '' };
    const help = command ? commandHelp(path, command, group) : groupHelp(path, summary, group);
    skipGlobals();
    const word = tokens[0];
    const sub = word !== undefined && Object.hasOwn(group, word) ? group[word]! : undefined;
    if (!sub) {
      // A command with subcommands takes the rest as its own options; a word it cannot take is a typo of a subcommand.
      if (command && (word === undefined || word.startsWith('-') || (command.args ?? []).length > 0))
        return { path, command, rest: rest(), help };
      if (!command && word === undefined) return { path, command: null, rest: [], help };
      throw new UsageError(
        `unknown command "${path.slice('atrium '.length)} ${word}" (one of: ${Object.keys(group).join(', ')})`,
      );
    }
    tokens.shift();
    path = `${path} ${word}`;
    where.path = path;
    if (isSubgroup(sub)) {
      summary = sub.summary;
      command = undefined;
      group = sub.group;
    } else {
      command = sub;
      group = undefined;
    }
  }
}

function parseCommandArgs(command: Command, rest: string[], path: string): Args {
  const specs = { ...command.options, ...GLOBAL_OPTIONS };
  const options: ParseArgsOptionsConfig = {};
  for (const [name, spec] of Object.entries(specs))
    options[name] = { type: spec.type, multiple: spec.multiple ?? false };
  options.help = { type: 'boolean', short: 'h' };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(optionProblem(error, path, specs));
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
  if (parsed.positionals.length < expected.length)
    throw new UsageError(`missing ${expected.slice(parsed.positionals.length).join(' ')}`);
  if (parsed.positionals.length > expected.length)
    throw new UsageError(`unexpected argument "${parsed.positionals[expected.length]}"`);
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const given = spec.multiple ? args.list(name).length > 0 : values[name] !== undefined;
    if (spec.required && !given)
      throw new UsageError(`missing --${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`);
  }
  return args;
}
