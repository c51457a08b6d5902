import { rm } from 'node:fs/promises';
import { Op } from 'sequelize';
import type { ClockTimer } from '../../core/clock.ts';
import type { NodeServices } from '../context.ts';
import { attachmentPath } from './attachment-files.ts';
import { sweepUncarriedFiles } from './sweep-uncarried.ts';

/**
 * How often a node looks for uploads never shared that have been kept long enough, and for files named
 * in sends that no message carries (sweep-uncarried.ts).
 */
export const UNSHARED_SWEEP_MS = 10 * 60_000;

const BATCH = 500;

type SweepServices = Pick<NodeServices, 'config' | 'domain' | 'models' | 'sequelize' | 'clock' | 'logger'>;

/**
 * Deletes the uploads that were never shared in a message and are older than `unsharedKeepHours`: each
 * record, then its bytes. A record goes only while it is still unshared, in one conditional statement,
 * so that a send binding it meanwhile keeps it (and a send after finds it gone and is refused). Several
 * processes may sweep at once: the one whose statement deletes a record deletes its file. Answers how
 * many uploads went.
 */
export async function sweepUnsharedUploads(services: SweepServices): Promise<number> {
  const { Attachment } = services.models;
  const keptSince = new Date(services.clock.now() - services.config.attachments.unsharedKeepHours * 3_600_000);
  let cleared = 0;
  for (;;) {
    const stale = await Attachment.findAll({
      where: { conversationId: null, createdAt: { [Op.lt]: keptSince } },
      attributes: ['id'],
      order: [['createdAt', 'ASC']],
      limit: BATCH,
    });
    for (const { id } of stale) {
      if ((await Attachment.destroy({ where: { id, conversationId: null } })) === 0) continue;
      cleared += 1;
      await rm(attachmentPath(services, id), { force: true }).catch((err: unknown) =>
        services.logger.warn({ err, attachment: id }, 'an unshared upload could not be deleted from disk'),
      );
    }
    if (stale.length < BATCH) return cleared;
  }
}

/** Both sweeps, each on its own: one failing does not hold the other back. */
async function sweepFiles(services: SweepServices): Promise<void> {
  const { logger } = services;
  await sweepUnsharedUploads(services).then(
    (cleared) => cleared > 0 && logger.info({ cleared }, 'deleted uploads never shared in a message'),
    (err: unknown) => logger.warn({ err }, 'sweeping unshared uploads failed; trying again later'),
  );
  await sweepUncarriedFiles(services).then(
    (cleared) => cleared > 0 && logger.info({ cleared }, 'deleted files named in sends that no message carries'),
    (err: unknown) => logger.warn({ err }, 'sweeping files no message carries failed; trying again later'),
  );
}

/** Sweeps at start (for what aged while the node was down) and every UNSHARED_SWEEP_MS by the node's clock. */
export function startUnsharedSweeps(services: SweepServices): { stop(): Promise<void> } {
  const { clock } = services;
  let running: Promise<void> | undefined;
  let timer: ClockTimer | undefined;
  let stopped = false;

  function sweep() {
    running = sweepFiles(services).finally(() => {
      running = undefined;
      if (!stopped) timer = clock.setTimeout(sweep, UNSHARED_SWEEP_MS).unref();
    });
  }
  sweep();

  return {
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      await running;
    },
  };
}
