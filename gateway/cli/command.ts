import { AppError } from '../../core/errors.ts';
import type { Env } from '../../core/config.ts';

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

export type CommandGroup = Record<string, Command>;

export type Entry =
  | { summary: string; command: () => Promise<Command> }
  | { summary: string; group: () => Promise<CommandGroup> };

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
