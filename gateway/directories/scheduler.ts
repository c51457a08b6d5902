import { systemClock, type Clock, type ClockTimer } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { operator, type GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { SyncRunningError } from './errors.ts';
import { syncDirectory } from './sync-directory.ts';
import { takeLease } from './sync-lease.ts';
import { summarize } from './sync-report.ts';

export type DirectorySchedule = { stop(): Promise<void> };

/**
 * The first look, a few seconds after start: the gateway serves before it syncs, and processes started
 * together (a deploy) look at different moments.
 */
const FIRST_LOOK_MS = { least: 2_000, spread: 2_000 };
/**
 * The longest wait between two looks, whatever the interval: a directory registered, or synced by the CLI
 * or another process meanwhile, is seen within it, and no timer is ever set beyond what Node's can hold.
 */
const MAX_WAIT_MS = 60_000;
/** A directory still due after a look (another process was syncing it, or the look failed) is looked at again after this. */
const RETRY_MS = 30_000;
const MIN_WAIT_MS = 1_000;

/**
 * Syncs each registered directory when it is due: last synced (by any means: this schedule, the CLI, the
 * console, another gateway process; failed or not) `intervalSeconds` (DIRECTORY_SYNC_INTERVAL) ago or
 * more. A directory never synced is never due: its first sync is an administrator's (console Sync now, or
 * `atrium directories sync`), after they tested it, since a wrong role mapping would otherwise give every
 * person of the directory wrong roles within a minute of its registration. A dry run writes no last sync,
 * so it starts nothing either. The time of the last sync is the registration's, in the
 * database, so a restart neither delays a due sync by a whole interval nor repeats one just done: the
 * first look is a few seconds after start. Several gateway processes may all run this: each decides
 * under the directory's lease that the sync is still due, and the lease lets one of them sync it; the
 * others find it done. stop() ends a sync in progress between two pages. `clock` (the machine's unless
 * given) tells when a directory is due and when to look next.
 */
export function startDirectorySchedule(options: {
  context: () => GatewayContext;
  sealer: Sealer;
  logger: Logger;
  intervalSeconds: number;
  clock?: Clock;
}): DirectorySchedule {
  const abort = new AbortController();
  const intervalMs = options.intervalSeconds * 1000;
  const { logger, clock = systemClock } = options;
  let running: Promise<void> | null = null;
  let timer: ClockTimer | null = null;
  const ctx = () => ({ ...options.context(), actor: operator('directory-schedule') });
  const dueAt = (lastSyncAt: Date | null) =>
    lastSyncAt ? lastSyncAt.getTime() + intervalMs : Number.POSITIVE_INFINITY;

  /** Syncs what is due, one directory after the other; resolves with how long to wait until the next look. */
  async function look(): Promise<number> {
    const directories = await options
      .context()
      .models.Directory.findAll({ attributes: ['id', 'name', 'lastSyncAt'], order: [['name', 'ASC']] });
    // Within an interval at most: a directory an administrator syncs first meanwhile is due an interval after.
    let wait = Math.min(MAX_WAIT_MS, intervalMs);
    for (const directory of directories) {
      if (abort.signal.aborted) break;
      const due = dueAt(directory.lastSyncAt);
      if (due > clock.now()) {
        wait = Math.min(wait, due - clock.now());
        continue;
      }
      const outcome = await syncIfStillDue(directory).catch((error: unknown) => {
        logger.error({ err: error, directory: directory.name }, 'scheduled directory sync failed');
        return 'retry' as const;
      });
      wait = Math.min(wait, outcome === 'retry' ? Math.min(RETRY_MS, intervalMs) : intervalMs);
    }
    return wait;
  }

  /**
   * Looks again under a short hold of the directory's lease, so that no sync of it starts or ends between
   * this look and the sync's own lease: a process that finds it synced meanwhile syncs nothing.
   */
  async function syncIfStillDue(directory: Directory): Promise<'synced' | 'not due' | 'retry'> {
    const { Directory } = options.context().models;
    let due = false;
    try {
      const lease = await takeLease(ctx(), directory, { short: true });
      try {
        const now = await Directory.findByPk(directory.id, { attributes: ['lastSyncAt'] });
        due = now !== null && dueAt(now.lastSyncAt) <= clock.now();
      } finally {
        await lease.release();
      }
      if (!due) return 'not due';
      const report = await syncDirectory(
        ctx(),
        { sealer: options.sealer, logger, signal: abort.signal },
        directory.name,
      );
      const log = report.outcome === 'success' ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ directory: directory.name, report: { ...report, names: undefined } }, summarize(report));
      return 'synced';
    } catch (error) {
      if (!(error instanceof SyncRunningError)) throw error;
      logger.debug({ directory: directory.name }, 'directory sync skipped: another sync of it is running');
      return 'retry';
    }
  }

  const lookIn = (ms: number) => {
    if (abort.signal.aborted) return;
    timer = clock.setTimeout(() => {
      timer = null;
      running = look()
        .catch((err: unknown) => {
          logger.error({ err }, 'scheduled directory sync failed');
          return Math.min(RETRY_MS, intervalMs);
        })
        .then((wait) => {
          running = null;
          lookIn(Math.max(MIN_WAIT_MS, Math.min(wait, MAX_WAIT_MS)));
        });
    }, ms);
    timer.unref();
  };
  lookIn(FIRST_LOOK_MS.least + Math.random() * FIRST_LOOK_MS.spread);

  return {
    async stop() {
      abort.abort();
      if (timer) clock.clearTimeout(timer);
      await running;
    },
  };
}
