import { Op, type Sequelize } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { FederationModels } from './models.ts';

/** This process's presence among the processes of its domain, for telling a gone lease holder from a slow one. */
export interface Liveness {
  /** Writes this process's row (taking over from a previous process of the same instance) and starts renewing it. */
  start(): Promise<void>;
  /** Stops renewing and removes the row, so the others know this process is gone. */
  stop(): Promise<void>;
  /** A condition on `outbox_peers`: its lease holder is no live process of the domain. */
  holderGone(): ReturnType<Sequelize['literal']>;
}

/**
 * This process's row in `node_processes`, renewed every heartbeat, so that the other processes of the
 * domain can tell a lease holder that is gone from one that is merely slow. A process counts as gone when
 * its row is missing: it stopped (and removed it), a process that started as the same instance (host and
 * port, which only one process can hold at a time) removed it, or its heartbeat went stale and another
 * process removed it. A live process whose row was removed while it stalled writes it again.
 */
export function createLiveness(options: {
  sequelize: Sequelize;
  models: FederationModels;
  processId: string;
  instance: string;
  heartbeatMs: number;
  deadAfterMs: number;
  logger: Logger;
  /** The clock heartbeats and staleness are judged by (the machine's by default). */
  now?: () => number;
}): Liveness {
  const clock = options.now ?? Date.now;
  const { sequelize, processId, instance, logger } = options;
  const { NodeProcess } = options.models;
  let timer: NodeJS.Timeout | undefined;

  const reapStale = (now: Date) =>
    NodeProcess.destroy({ where: { seenAt: { [Op.lt]: new Date(now.getTime() - options.deadAfterMs) } } });

  async function beat(): Promise<void> {
    const now = new Date(clock());
    const [renewed] = await NodeProcess.update({ seenAt: now }, { where: { processId } });
    if (renewed === 0) await NodeProcess.upsert({ processId, instance, startedAt: now, seenAt: now });
    await reapStale(now);
  }

  return {
    async start(): Promise<void> {
      const now = new Date(clock());
      // Whoever ran as this instance before is gone (a crash, then a restart): its leases are free now.
      const predecessors = await NodeProcess.destroy({ where: { instance, processId: { [Op.ne]: processId } } });
      if (predecessors > 0) logger.info({ instance }, 'took over from the previous process of this instance');
      await NodeProcess.upsert({ processId, instance, startedAt: now, seenAt: now });
      await reapStale(now);
      timer = setInterval(
        () => void beat().catch((err: unknown) => logger.warn({ err }, 'process heartbeat failed')),
        options.heartbeatMs,
      );
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await NodeProcess.destroy({ where: { processId } }).catch(() => undefined);
    },
    holderGone: () => sequelize.literal('lease_owner NOT IN (SELECT process_id FROM node_processes)'),
  };
}
