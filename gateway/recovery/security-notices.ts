import { Op } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { AuditEntry } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Mailer } from './mailer.ts';
import { noticeWanted } from './notice-mails.ts';
import { writeNotices } from './notice-outbox.ts';
import { createNoticeSender, type NoticeRetry, type NoticeSender } from './notice-sender.ts';

export { NOTICES_AT_ONCE } from './notice-sender.ts';

/**
 * Mails a person when their account's security changes (a password set or reset, second factors removed
 * or added, new recovery codes or one used to sign in, a new email address, from the console or a directory
 * sync): audit() hands it every line it writes, and it picks those the person is told of (notice-mails.ts).
 * A helpdesk talked into a reset then leaves the real owner informed.
 *
 * The mails are written to an outbox in the change's transaction (notice-outbox.ts) and sent from there by
 * the gateway (notice-sender.ts), retried while the mail server refuses them or is down: a notice is how a
 * person learns their account was taken over, so none is lost to a restart or an outage.
 */
export type SecurityNotices = {
  /** Writes the entry's mails to the outbox, in `ctx.tx` when there is one (and has them sent after commit). */
  audited(ctx: GatewayContext, entry: AuditEntry): Promise<void>;
  /**
   * Waits (at most `ms`) until every notice this process wrote was sent, given up on or refused at least
   * once (then it waits in the outbox for its next try), by whichever process. At once where nothing was
   * written here, or where this process sends nothing.
   */
  settle(ms?: number): Promise<void>;
};

export type NoticeOutbox = SecurityNotices & {
  /** Sends what waits in the outbox, now and then every second (a gateway; the CLI sends only in settle()). */
  start(): void;
  /** Sends nothing more, and waits (at most `ms`) for the mails under way. */
  stop(ms?: number): Promise<void>;
};

export type SecurityNoticeDeps = {
  logger: Logger;
  /** The gateway's public URL: the mails name the account page under it. */
  issuer: string;
  /** The database the outbox is in. */
  context: () => GatewayContext;
  /** Sends from this process; without one, the notices wait in the outbox for a gateway that has one. */
  mailer?: Mailer;
  retry?: NoticeRetry;
  /** How often the outbox is read for notices due (every second). */
  intervalMs?: number;
};

export function securityNotices(deps: SecurityNoticeDeps): NoticeOutbox {
  const sender: NoticeSender | null = deps.mailer
    ? createNoticeSender({
        models: () => deps.context().models,
        mailer: deps.mailer,
        logger: deps.logger,
        retry: deps.retry,
        intervalMs: deps.intervalMs,
      })
    : null;
  let written = 0;
  const kick = () => sender?.kick();
  return {
    async audited(ctx, entry) {
      if (!noticeWanted(entry)) return;
      if (ctx.tx) {
        // A failed write fails the change: a committed change always has its notices.
        if ((await writeNotices(ctx, entry, deps.issuer)) === 0) return;
        written += 1;
        ctx.tx.afterCommit(kick);
        return;
      }
      // Without a transaction the change is made already: a notice that cannot be written undoes nothing.
      try {
        if ((await writeNotices(ctx, entry, deps.issuer)) === 0) return;
        written += 1;
        kick();
      } catch (err) {
        deps.logger.error(
          { err, action: entry.action, account: entry.target },
          'a security notice could not be written',
        );
      }
    },
    async settle(ms = 5_000) {
      if (!sender || written === 0) return;
      const { SecurityNotice } = deps.context().models;
      const upTo = Number((await SecurityNotice.max('id')) ?? 0);
      const deadline = Date.now() + ms;
      for (;;) {
        const open = await SecurityNotice.count({
          where: { status: 'pending', lastError: null, id: { [Op.lte]: upTo } },
        });
        if (open === 0 || Date.now() >= deadline) return;
        kick();
        await new Promise((resolve) => setTimeout(resolve, Math.min(100, deadline - Date.now())));
      }
    },
    start: () => sender?.start(),
    stop: async (ms = 5_000) => sender?.stop(ms),
  };
}
