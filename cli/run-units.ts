import type { Env } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';

export type Endpoint = { label: string; url: string };
export type RunningUnit = { name: string; endpoints: Endpoint[]; close(): Promise<void> };
/** A unit not yet started; what it starts may carry more than a RunningUnit (the node itself, for seeding). */
export type UnitStarter<U extends RunningUnit = RunningUnit> = { name: string; start(): Promise<U> };

type Started<T extends readonly UnitStarter<RunningUnit>[]> = {
  -readonly [K in keyof T]: Awaited<ReturnType<T[K]['start']>>;
};

/** Starts units in order; when one fails, those already running are stopped (in reverse) before the error surfaces. */
export async function startUnits<const T extends readonly UnitStarter<RunningUnit>[]>(
  starters: T,
  logger: Logger,
): Promise<Started<T>> {
  const running: RunningUnit[] = [];
  for (const starter of starters) {
    try {
      running.push(await starter.start());
    } catch (error) {
      await stopUnits(running, logger).catch(() => undefined);
      throw error;
    }
  }
  return running as Started<T>;
}

/** Stops units in reverse order of starting; every unit gets its chance even if an earlier close fails. */
export async function stopUnits(units: RunningUnit[], logger: Logger): Promise<void> {
  let failure: unknown;
  for (const unit of [...units].reverse()) {
    try {
      await unit.close();
      logger.info({ unit: unit.name }, 'stopped');
    } catch (error) {
      logger.error({ err: error, unit: unit.name }, 'failed to stop cleanly');
      failure ??= error;
    }
  }
  if (failure) throw failure;
}

/** Begins the shutdown as a signal does, while a command waits for one (shutdownSignal()); unset otherwise. */
let beginShutdown: ((signal: NodeJS.Signals) => void) | undefined;

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once, for an operator who will not wait. */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      beginShutdown = undefined;
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      const force = () => process.exit(130);
      process.once('SIGINT', force).once('SIGTERM', force);
      resolve(signal);
    };
    beginShutdown = onSignal;
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  });
}

/**
 * Keeps the units running until the shutdown signal, then closes them gracefully. The command listens
 * for it (`shutdownSignal()`) before it starts anything: a SIGTERM that arrives while the units start,
 * or right after the command printed that it is up, stops them gracefully instead of killing the process.
 */
export async function runUntilSignal(
  units: RunningUnit[],
  logger: Logger,
  shutdown: Promise<NodeJS.Signals>,
): Promise<void> {
  const signal = await shutdown;
  logger.info({ signal }, 'shutting down');
  await stopUnits(units, logger);
}

/**
 * Under npm (`npx atrium …`, `npm start`, `npm run atrium`) this process runs below npm, through `sh -c`,
 * and a SIGTERM sent to npm's PID, the one a shell's `$!` holds, ends npm and its shell but is not passed
 * on: the unit would run on, orphaned, still holding its port. So, under npm only, a parent that goes away
 * (the process is re-parented) stops a unit as SIGTERM does, once its command waits for the signal
 * (`shutdownSignal()`), and not again once its shutdown began (systemd signals every process of a
 * service at once). A short command runs to its end as before, and a unit started by a shell or a service
 * manager without npm outlives its parent as it always did. Polling the parent's PID is cheap and certain
 * on Linux: no pipe or IPC channel has to be held open by npm.
 */
export function stopWhenNpmExits(env: Env, stderr: NodeJS.WritableStream, everyMs = 500): void {
  if (!env.npm_command) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent || !beginShutdown) return;
    clearInterval(timer);
    stderr.write('atrium: the npm process that started this one has exited: stopping as on SIGTERM\n');
    beginShutdown('SIGTERM');
  }, everyMs);
  timer.unref();
}
