import { AppError } from '../core/errors.ts';
import type { Env } from '../core/config.ts';

/** The process's streams and environment, handed in by bin/atrium.ts so nothing here reaches for globals. */
export type Io = {
  env: Env;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
};

export type OptionSpec = {
  type: 'string' | 'boolean';
  multiple?: boolean;
  required?: boolean;
  /** Placeholder shown in help, such as NAME. */
  value?: string;
  help: string;
};

export type Args = {
  positionals: string[];
  json: boolean;
  string(name: string): string | undefined;
  list(name: string): string[];
  flag(name: string): boolean;
};

/** What a command prints: one JSON document under --json, readable text otherwise. */
export type Output = { json: unknown; text: string };

export type Command = {
  summary: string;
  /** Required positional arguments, by their placeholder (USERNAME, FILE.csv). */
  args?: string[];
  options?: Record<string, OptionSpec>;
  /** More help after the options. */
  notes?: string;
  /** Long-running commands print for themselves and return nothing. */
  run(args: Args, io: Io): Promise<Output | void>;
};

/** Words below a command group (`node keys rotate`): commands, or groups of their own. */
export type Subgroup = { summary: string; group: CommandGroup };
export type CommandGroup = Record<string, Command | Subgroup>;

export const isSubgroup = (item: Command | Subgroup): item is Subgroup => 'group' in item;

/**
 * A top-level word: a command, a group of commands, or both (`atrium node --domain X` runs the node,
 * `atrium node keys list` is one of its subcommands).
 */
export type Entry =
  | { summary: string; command: () => Promise<Command>; group?: undefined }
  | { summary: string; group: () => Promise<CommandGroup>; command?: undefined }
  | { summary: string; command: () => Promise<Command>; group: () => Promise<CommandGroup> };

/** Wrong words on the command line: exit status 2 and a pointer to --help. */
export class UsageError extends AppError {
  constructor(message: string) {
    super('usage', 400, message);
  }
}

/** A problem of the machine rather than of the input (database unreachable, not migrated): exit status 1. */
export class RuntimeFailure extends AppError {
  constructor(code: string, message: string) {
    super(code, 500, message);
  }
}
