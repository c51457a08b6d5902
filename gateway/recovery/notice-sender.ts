import { Op } from 'sequelize';
import { kickedRunner } from '../../core/kicked-runner.ts';
import type { Logger } from '../../core/logger.ts';
import { audit } from '../audit.ts';
import { operator } from '../context.ts';
import type { GatewayModels, SecurityNotice } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { sendWithin, type Mailer } from './mailer.ts';
import { securityNoticeMails } from './notice-metrics.ts';

/**
 * How a notice the mail server refused or did not answer is tried again: `firstDelayMs` after the first try,
 * doubling up to `maxDelayMs`; a try that fails `giveUpAfterMs` or more after the first is the last.
 */
export type NoticeRetry = { firstDelayMs: number; maxDelayMs: number; giveUpAfterMs: number };

/**
 * 30 s, 1, 2, 4 ... 32 min, then hourly, for a day (about 30 tries): a mail server down for an hour or
 * refusing for a night loses nothing, and a notice that could not go out within a day is logged as an error
 * for the operator rather than tried for ever (an address that does not exist, a mail server gone for good).
 */
export const NOTICE_RETRY: NoticeRetry = {
  firstDelayMs: 30_000,
  maxDelayMs: 60 * 60_000,
  giveUpAfterMs: 24 * 60 * 60_000,
};

/**
 * Notices being mailed at once by one process; the others wait their turn. A directory sync that gives a
 * whole campus new addresses writes two mails a person: each is a connection to the mail server, which
 * refuses a client that opens thousands at once.
 */
export const NOTICES_AT_ONCE = 4;

// A send the mail server has not finished by then counts as unanswered, and its connection is closed: the
// mailer's own timeouts (mailer.ts) end a silent one sooner, this one that keeps trickling. A claimed row is
// left to its claimer longer than that, so another gateway process mails it again only when its claimer died
// mid-send.
const SEND_TIMEOUT_MS = 2 * 60_000;
const CLAIM_MS = 5 * 60_000;

export type NoticeSenderOptions = {
  models: () => GatewayModels;
  mailer: Mailer;
  logger: Logger;
  retry?: NoticeRetry;
  intervalMs?: number;
};

export type NoticeSender = {
  /** Sends what is due now, then every `intervalMs` what any process wrote. */
  start(): void;
  kick(): void;
  /** Claims nothing more, and waits (at most `ms`) for the mails under way. */
  stop(ms: number): Promise<void>;
};

/**
 * Mails the outbox's due notices, oldest first, NOTICES_AT_ONCE at a time, whichever process wrote them. A
 * row is claimed before it is sent (a conditional update of its try count), so that with several gateway
 * processes on one database each is mailed by one of them. Sent → marked sent; refused or unanswered → tried
 * again later (NoticeRetry), and after the last try marked given up, logged as an error and audited
 * (`notice.given_up`, for the helpdesk). Each try is counted (notice-metrics.ts).
 */
export function createNoticeSender(options: NoticeSenderOptions): NoticeSender {
  const retry = options.retry ?? NOTICE_RETRY;
  let wake: () => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;

  /** Keeps NOTICES_AT_ONCE mails under way while any is due: a slow mail server holds a turn, not the rest. */
  async function drain(): Promise<void> {
    const { SecurityNotice } = options.models();
    const underWay = new Set<Promise<void>>();
    while (!runner.stopped) {
      const room = NOTICES_AT_ONCE - underWay.size;
      if (room > 0) {
        // A row under way is claimed, and so not due: it is not read again.
        const due = await SecurityNotice.findAll({
          where: { status: 'pending', nextAt: { [Op.lte]: new Date() } },
          order: [
            ['nextAt', 'ASC'],
            ['id', 'ASC'],
          ],
          limit: room,
        });
        for (const row of due) {
          if (!(await claim(options, row))) continue;
          const sending = sendClaimed(options, retry, row)
            .catch((err: unknown) => options.logger.error({ err, account: row.account }, 'a security notice failed'))
            .finally(() => underWay.delete(sending));
          underWay.add(sending);
        }
        if (underWay.size === 0 && due.length === 0) return;
        // Others claimed some of these first: read again for those left.
        if (due.length > 0 && underWay.size < NOTICES_AT_ONCE) continue;
      }
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      await Promise.race([...underWay, woken]);
    }
    await Promise.allSettled(underWay);
  }

  const runner = kickedRunner(drain, {
    intervalMs: options.intervalMs ?? 1_000,
    failed: (err) => options.logger.error({ err }, 'sending security notices failed'),
  });
  const kick = () => {
    wake();
    runner.kick();
  };
  return {
    start() {
      kick();
      timer = setInterval(kick, options.intervalMs ?? 1_000);
      timer.unref();
    },
    kick,
    async stop(ms) {
      if (timer) clearInterval(timer);
      let timeout: NodeJS.Timeout | undefined;
      const stopping = runner.stop();
      wake();
      await Promise.race([stopping, new Promise<void>((resolve) => (timeout = setTimeout(resolve, ms)))]);
      clearTimeout(timeout);
    },
  };
}

/** Takes the row for this process (tries once more, not due again until the claim lapses), unless another did. */
async function claim(options: NoticeSenderOptions, row: SecurityNotice): Promise<boolean> {
  const now = new Date();
  const [claimed] = await options
    .models()
    .SecurityNotice.update(
      { tries: row.tries + 1, firstTriedAt: row.firstTriedAt ?? now, nextAt: new Date(now.getTime() + CLAIM_MS) },
      { where: { id: row.id, tries: row.tries, status: 'pending' } },
    );
  if (claimed !== 1) return false;
  row.tries += 1;
  row.firstTriedAt ??= now;
  return true;
}

/** Mails a claimed row and marks it sent, or has it tried again (notTaken). */
async function sendClaimed(options: NoticeSenderOptions, retry: NoticeRetry, row: SecurityNotice): Promise<void> {
  const { tries, firstTriedAt } = row;
  try {
    await sendWithin(options.mailer, { to: row.recipient, subject: row.subject, text: row.body }, SEND_TIMEOUT_MS);
  } catch (error) {
    await notTaken(options, retry, row, { tries, firstTriedAt: firstTriedAt!, error });
    return;
  }
  securityNoticeMails.inc({ outcome: 'sent' });
  await options
    .models()
    .SecurityNotice.update(
      { status: 'sent', doneAt: new Date(), lastError: null },
      { where: { id: row.id, status: 'pending' } },
    );
}

/** The mail server refused the mail or did not answer: it is tried again later, or given up on. */
async function notTaken(
  options: NoticeSenderOptions,
  retry: NoticeRetry,
  row: SecurityNotice,
  attempt: { tries: number; firstTriedAt: Date; error: unknown },
): Promise<void> {
  const { SecurityNotice } = options.models();
  const { tries, error } = attempt;
  const now = Date.now();
  const lastError = reasonOf(error).slice(0, 500);
  const about = { action: row.action, account: row.account, to: row.recipient, tries, error: lastError };
  // Only while this process's claim holds: one taken over meanwhile is the other process's to settle.
  const mine = { id: row.id, tries, status: 'pending' };
  if (now - attempt.firstTriedAt.getTime() >= retry.giveUpAfterMs) {
    securityNoticeMails.inc({ outcome: 'given_up' });
    await giveUp(options, row, { tries, lastError, at: new Date(now) });
    options.logger.error(about, 'a security notice could not be mailed; given up');
    return;
  }
  securityNoticeMails.inc({ outcome: 'refused' });
  const delay = Math.min(retry.firstDelayMs * 2 ** (tries - 1), retry.maxDelayMs);
  const retryAt = new Date(now + delay);
  await SecurityNotice.update({ nextAt: retryAt, lastError }, { where: mine });
  options.logger.warn({ ...about, retryAt }, 'a security notice was not taken by the mail server; trying again');
}

/**
 * Marks the row given up on and writes the audit line the helpdesk reads (the console's audit log, and the
 * person's account activity): the account, what the mail was (its subject, and what change it told of), where
 * it went and why it did not, never its text. Together and only while this process's claim holds, so that a
 * notice given up on is audited once.
 */
async function giveUp(
  options: NoticeSenderOptions,
  row: SecurityNotice,
  attempt: { tries: number; lastError: string; at: Date },
): Promise<void> {
  const models = options.models();
  const gateway = { sequelize: models.SecurityNotice.sequelize!, models, actor: operator('gateway'), ip: null };
  await inTransaction(gateway, async (ctx) => {
    const [givenUp] = await models.SecurityNotice.update(
      { status: 'given_up', doneAt: attempt.at, lastError: attempt.lastError },
      { where: { id: row.id, tries: attempt.tries, status: 'pending' }, transaction: ctx.tx },
    );
    if (givenUp !== 1) return;
    await audit(ctx, {
      action: 'notice.given_up',
      target: row.account,
      outcome: 'failure',
      details: {
        subject: row.subject,
        notice: row.action,
        to: row.recipient,
        tries: attempt.tries,
        error: attempt.lastError,
      },
    });
  });
}

const reasonOf = (error: unknown): string => {
  const err = error as { message?: string; code?: string };
  return String(err?.message ?? error);
};
