/**
 * What both benchmark orchestrators (bench/node/run.ts, bench/federation/run.ts) do around their
 * measurements: a timestamped log, cleanups run in reverse order whatever the way out, and stopping
 * their child processes by pid.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `[  12.3 s] message`, counted from `started` (a performance.now() reading). */
export function timestampLog(started: number): (message: string) => void {
  return (message: string) =>
    console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`);
}

export type Cleanups = {
  /** Everything the run started, stopped in reverse order on the way out. */
  push(cleanup: { name: string; run: () => Promise<unknown> | unknown }): void;
  run(): Promise<void>;
  /** True once a signal or the hard time limit stopped the run. */
  readonly aborted: boolean;
};

/** Cleanups that also run on SIGINT/SIGTERM (exit 130) and after `hardLimitMs` (exit 1). */
export function installCleanups(hardLimitMs: number, signalNote: string): Cleanups {
  const cleanups: { name: string; run: () => Promise<unknown> | unknown }[] = [];
  let cleaning: Promise<void> | undefined;
  let aborted = false;
  function run(): Promise<void> {
    cleaning ??= (async () => {
      for (const { name, run } of cleanups.reverse()) {
        try {
          await Promise.race([run(), sleep(25_000).then(() => Promise.reject(new Error('timed out')))]);
        } catch (error) {
          console.error(`cleanup of ${name} failed: ${(error as Error).message}`);
        }
      }
    })();
    return cleaning;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      aborted = true;
      console.error(`\n${signal}: ${signalNote}`);
      void run().finally(() => process.exit(130));
    });
  }
  setTimeout(() => {
    aborted = true;
    console.error(`The run took longer than ${hardLimitMs / 60_000} minutes; stopping.`);
    void run().finally(() => process.exit(1));
  }, hardLimitMs).unref();
  return {
    push: (cleanup) => void cleanups.push(cleanup),
    run,
    get aborted() {
      return aborted;
    },
  };
}

export type Child = { child: ChildProcess; call: (cmd: string, args?: unknown, t?: number) => Promise<unknown> };
export const alive = (c: Child) => c.child.exitCode === null && c.child.signalCode === null;

/** Stops a child: asks it to leave, then kills that very pid if it does not. */
export async function stopChild(c: Child, command: string, graceMs: number): Promise<void> {
  if (!alive(c)) return;
  const exited = new Promise<void>((r) => c.child.once('exit', () => r()));
  await c.call(command, {}, graceMs).catch(() => undefined);
  await Promise.race([exited, sleep(graceMs)]);
  if (alive(c)) {
    c.child.kill('SIGKILL');
    await exited;
  }
}

/** Sends a signal to that very pid and waits for it to exit (SIGKILL after 10 s). */
export async function signalChild(c: Child, signal: NodeJS.Signals): Promise<void> {
  if (!alive(c)) return;
  const exited = new Promise<void>((r) => c.child.once('exit', () => r()));
  c.child.kill(signal);
  await Promise.race([exited, sleep(10_000)]);
  if (alive(c)) {
    c.child.kill('SIGKILL');
    await exited;
  }
}

/** Notes a phase that failed (the run goes on with the next phase) and logs it. */
export function recordFailure(
  results: { errors: string[] },
  phase: string,
  error: unknown,
  log: (message: string) => void,
): void {
  const message = `${phase}: ${error instanceof Error ? error.message : String(error)}`;
  results.errors.push(message);
  log(`PHASE FAILED — ${message}`);
}

/** A git command's output in `cwd`, or '' where git is not available (a tarball, say). */
export function gitOutput(cwd: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8' }).trimEnd();
  } catch {
    return '';
  }
}
