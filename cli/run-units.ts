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

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once, for an operator who will not wait. */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      const force = () => process.exit(130);
      process.once('SIGINT', force).once('SIGTERM', force);
      resolve(signal);
    };
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
