import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { operator, type GatewayContext } from '../context.ts';
import { SyncRunningError } from './errors.ts';
import { syncDirectory } from './sync-directory.ts';
import { summarize } from './sync-report.ts';

export type DirectorySchedule = { stop(): Promise<void> };

/**
 * Syncs every registered directory every `intervalSeconds` (DIRECTORY_SYNC_INTERVAL), one after the
 * other. Several gateway processes may all run this: the sync lease lets one of them sync a directory
 * and the others skip it. stop() ends a sync in progress between two pages.
 */
export function startDirectorySchedule(options: {
  context: () => GatewayContext;
  sealer: Sealer;
  logger: Logger;
  intervalSeconds: number;
}): DirectorySchedule {
  const abort = new AbortController();
  let running: Promise<void> | null = null;
  const ctx = () => ({ ...options.context(), actor: operator('directory-schedule') });

  async function round(): Promise<void> {
    const directories = await options
      .context()
      .models.Directory.findAll({ attributes: ['name'], order: [['name', 'ASC']] });
    for (const { name } of directories) {
      if (abort.signal.aborted) return;
      try {
        const report = await syncDirectory(
          ctx(),
          { sealer: options.sealer, logger: options.logger, signal: abort.signal },
          name,
        );
        const log =
          report.outcome === 'success'
            ? options.logger.info.bind(options.logger)
            : options.logger.warn.bind(options.logger);
        log({ directory: name, report: { ...report, names: undefined } }, summarize(report));
      } catch (error) {
        if (error instanceof SyncRunningError)
          options.logger.debug({ directory: name }, 'directory sync skipped: another sync of it is running');
        else options.logger.error({ err: error, directory: name }, 'scheduled directory sync failed');
      }
    }
  }

  const timer = setInterval(() => {
    if (running) return;
    running = round()
      .catch((err: unknown) => options.logger.error({ err }, 'scheduled directory sync failed'))
      .finally(() => (running = null));
  }, options.intervalSeconds * 1000);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}
