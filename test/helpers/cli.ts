import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sequelize } from 'sequelize';
import type { Io } from '../../cli/command.ts';
import { runCli } from '../../cli/run.ts';
import { bindSecretKey } from '../../core/bound-secret.ts';
import { openDatabase } from '../../core/database.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { defineGatewayModels } from '../../gateway/models/index.ts';
import type { TestDatabase } from './database.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/atrium.ts', import.meta.url));
// Node's on-disk cache of compiled modules, shared by every CLI process the tests start: each run loads the
// same few hundred modules, and compiling them again took half of a short command's time. Node checks each
// entry against the module's source, so a changed file is compiled afresh.
const compileCache = join(tmpdir(), 'atrium-test-compile-cache');

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** The environment the CLI sees: only what points it at the test database, so the caller's shell cannot leak in. */
export function cliEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

function spawnAtrium(db: TestDatabase, args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  // process.execPath is the Node 24 that runs vitest, which strips the types of bin/atrium.ts.
  return spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { NODE_COMPILE_CACHE: compileCache, ...cliEnv(db, env) },
  });
}

export type RunOptions = {
  stdin?: string;
  env?: Record<string, string>;
  /**
   * Run as a real process (bin/atrium.ts) instead of calling the CLI in the test's own process. A process
   * costs a second of CPU to start, which over the suite's few hundred runs was a sixth of its time; the
   * CLI takes its streams and environment as arguments (cli/command.ts), so in-process runs the same code
   * with the same words, environment and input. The tests of the executable itself use processes.
   */
  process?: boolean;
};

/** Runs `atrium ARGS` to completion, in this process unless `process` is set (then as a real one). */
export function runAtrium(db: TestDatabase, args: string[], options: RunOptions = {}): Promise<CliResult> {
  return options.process ? runAtriumProcess(db, args, options) : runAtriumHere(db, args, options);
}

function runAtriumProcess(db: TestDatabase, args: string[], options: RunOptions): Promise<CliResult> {
  const child = spawnAtrium(db, args, options.env ?? {});
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A stream that keeps what is written to it, as a pipe to a file would (not a terminal). */
function collector(): { stream: NodeJS.WriteStream; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
}

async function runAtriumHere(db: TestDatabase, args: string[], options: RunOptions): Promise<CliResult> {
  const stdin = new PassThrough();
  stdin.end(options.stdin ?? '');
  const stdout = collector();
  const stderr = collector();
  const io: Io = {
    env: cliEnv(db, options.env ?? {}),
    stdin: stdin as unknown as NodeJS.ReadStream,
    stdout: stdout.stream,
    stderr: stderr.stream,
  };
  const code = await runCli(args, io);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** The one JSON document a --json run prints on stdout. */
export function jsonOf<T = Record<string, any>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
}

export type LongRunning = {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the first pino log line whose msg is `msg`. */
  log(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves once the output contains `text`. */
  printed(text: string, timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/** Starts a long-running command (`gateway`, `demo`) whose pino logs go to stdout. */
export function startAtrium(db: TestDatabase, args: string[], env: Record<string, string> = {}): LongRunning {
  const child = spawnAtrium(db, args, { LOG_LEVEL: 'info', ...env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stdin.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const findLog = (msg: string) =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === msg);
  const poll = async <T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no ${what} (exit ${child.exitCode}):\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    output: () => out,
    log: (msg, timeoutMs = 15_000) => poll(`"${msg}" log`, () => findLog(msg), timeoutMs),
    printed: (text, timeoutMs = 15_000) =>
      poll(JSON.stringify(text), () => (out.includes(text) ? true : undefined), timeoutMs).then(() => undefined),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export type Inspector = { sequelize: Sequelize; ctx: GatewayContext; close(): Promise<void> };

/** Opens the database a CLI run wrote to, to check what it did (the CLI's own config decides where it is). */
export async function inspectDatabase(db: TestDatabase): Promise<Inspector> {
  const config = loadGatewayConfig({
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
  });
  const sequelize = await openDatabase(config.database);
  bindSecretKey(sequelize, config.secretKey);
  const models = defineGatewayModels(sequelize);
  return { sequelize, ctx: { sequelize, models, actor: operator('test'), ip: null }, close: () => sequelize.close() };
}
