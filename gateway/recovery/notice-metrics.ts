import { Counter, Gauge } from 'prom-client';
import { Op } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { GatewayModels } from '../models/index.ts';

/**
 * What became of each try at mailing a security notice from this process (notice-sender.ts): `sent` (the
 * mail server took it), `refused` (refused or unanswered; tried again later), `given_up` (refused at the
 * last try). Registered on the gateway's /metrics; it counts for the whole process.
 */
export const securityNoticeMails = new Counter({
  name: 'atrium_security_notice_mails_total',
  help: 'Security notice mails this process tried to send, by outcome: sent, refused (tried again later), given_up',
  labelNames: ['outcome'],
  registers: [],
});

/**
 * The security notices in the outbox waiting to be mailed (`waiting`: due, retrying or under way) and those
 * given up on (`given_up`, kept 7 days), read from the database at each scrape. One count over the index
 * `security_notices_due`, whose first column is the status: it reads only the rows of these two statuses,
 * never the sent ones that make up the table. The same in every gateway process over the database. A scrape
 * while the database does not answer leaves the gauge out rather than failing /metrics.
 */
export function securityNoticesGauge(models: GatewayModels, logger: Logger): Gauge<'status'> {
  const gauge: Gauge<'status'> = new Gauge({
    name: 'atrium_security_notices',
    help: 'Security notices in the outbox, by status: waiting (to be mailed or tried again), given_up (last 7 days)',
    labelNames: ['status'],
    registers: [],
    async collect() {
      try {
        const counts = await models.SecurityNotice.count({
          attributes: ['status'],
          where: { status: { [Op.in]: ['pending', 'given_up'] } },
          group: ['status'],
        });
        const of = (status: string) => Number(counts.find((c) => c.status === status)?.count ?? 0);
        gauge.set({ status: 'waiting' }, of('pending'));
        gauge.set({ status: 'given_up' }, of('given_up'));
      } catch (err) {
        gauge.reset();
        logger.warn({ err }, 'the security notices could not be counted for /metrics');
      }
    },
  });
  return gauge;
}
