import type { Logger } from '../../core/logger.ts';
import { atSentenceStart, deviceWords } from '../accounts/device-words.ts';
import type { AuditEntry } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Mailer } from './mailer.ts';
import { noticeMails, noticeWanted } from './notice-mails.ts';

/**
 * Mails a person when their account's security changes (a password set or reset, second factors removed
 * or added, new recovery codes or one used to sign in, a new email address, from the console or a directory
 * sync): audit() hands it every line it writes, and it picks those the person is told of (notice-mails.ts).
 * A helpdesk talked into a reset then leaves the real owner informed.
 */
export type SecurityNotices = {
  audited(ctx: GatewayContext, entry: AuditEntry): void;
  /** Waits (at most `ms`) for the mails under way, before the database and the mail server are closed. */
  settle(ms?: number): Promise<void>;
};

export type SecurityNoticeDeps = {
  mailer: Mailer;
  logger: Logger;
  /** The gateway's public URL: the mails name the account page under it. */
  issuer: string;
};

/**
 * Notices being read and mailed at once; the others wait their turn. A directory sync that gives a whole
 * campus new addresses (a mail domain renamed) hands over two mails a person, a page of people at a time:
 * each mail is a connection to the mail server, which refuses a client that opens thousands at once.
 */
export const NOTICES_AT_ONCE = 4;

export function securityNotices(deps: SecurityNoticeDeps): SecurityNotices {
  const underWay = new Set<Promise<void>>();
  const inTurn = takingTurns(NOTICES_AT_ONCE);
  const start = (ctx: GatewayContext, entry: AuditEntry, at: Date) => {
    const sending = inTurn(() => mailNotices(ctx, deps, entry, at)).catch((err: unknown) =>
      deps.logger.warn({ err, action: entry.action, account: entry.target }, 'a security notice could not be mailed'),
    );
    underWay.add(sending);
    void sending.finally(() => underWay.delete(sending));
  };
  return {
    audited(ctx, entry) {
      if (!noticeWanted(entry)) return;
      const at = new Date();
      // Only once the change is committed (one rolled back never happened), and never awaited: a mail
      // server that is slow or down delays and undoes nothing.
      if (ctx.tx) ctx.tx.afterCommit(() => start(ctx, entry, at));
      else start(ctx, entry, at);
    },
    async settle(ms = 5_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      });
      await Promise.race([Promise.allSettled([...underWay]), timeout]);
      clearTimeout(timer);
    },
  };
}

/** Runs the work handed to it, at most `atOnce` at a time, the rest in the order handed in. */
function takingTurns(atOnce: number): (work: () => Promise<void>) => Promise<void> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (running >= atOnce) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      await work();
    } finally {
      // The turn passes straight to the next waiting, so `running` counts it still.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

/** Reads the account as committed and sends each of its mails; one refused does not stop the others. */
async function mailNotices(ctx: GatewayContext, deps: SecurityNoticeDeps, entry: AuditEntry, at: Date) {
  // Outside the (committed) transaction the change was made in.
  const user = await ctx.models.User.findOne({ where: { username: entry.target ?? '' } });
  if (!user) return;
  const mails = noticeMails(entry, {
    user,
    actor: ctx.actor,
    at,
    device: deviceOf(ctx),
    accountPage: `${deps.issuer}/account`,
  });
  const sent = await Promise.allSettled(mails.map((mail) => deps.mailer.send(mail)));
  sent.forEach((result, i) => {
    if (result.status === 'rejected')
      deps.logger.warn(
        { err: result.reason, action: entry.action, account: user.username, to: mails[i]!.to },
        'a security notice was refused by the mail server; the change stands',
      );
  });
}

function deviceOf(ctx: GatewayContext): string | null {
  if (!ctx.userAgent && !ctx.ip) return null;
  const device = atSentenceStart(deviceWords(ctx.userAgent));
  return ctx.ip ? `${device}, address ${ctx.ip}` : device;
}
