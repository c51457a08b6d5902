import type { GatewayConfig } from '../gateway/config.ts';
import type { GatewayContext } from '../gateway/context.ts';
import type { NoticeOutbox } from '../gateway/recovery/security-notices.ts';
import type { Io } from './command.ts';

/** A command's security notices, and what it tells the operator of those it leaves to the gateway. */
export type CommandNotices = {
  notices: NoticeOutbox;
  /** Says, in one line on stderr, whose notices wait for the gateway to mail them; nothing when none do. */
  sayLeft(io: Io): void;
  close(): void;
};

/**
 * A reset or a new email made at the command line is told to the person as one made in the console is
 * (gateway/recovery/security-notices.ts): its mails are written to the outbox with the change, always, for
 * the running gateway to send. The command's shell often lacks SMTP_URL where the gateway has it: a command
 * that wrote nothing there would leave a password reset at the command line untold. Where SMTP_URL is set
 * here, the command also sends them itself, for up to 10 s, so that one run on a machine without a running
 * gateway mails too; whatever is not sent by then waits in the outbox. A mail server's refusal is a warning
 * on stderr, so that stdout stays the command's answer (--json). The mailer is loaded only then: the other
 * commands need not load nodemailer.
 */
export async function commandNotices(
  config: GatewayConfig,
  io: Io,
  context: () => GatewayContext,
): Promise<CommandNotices> {
  const { securityNotices } = await import('../gateway/recovery/security-notices.ts');
  const { pino } = await import('pino');
  const logger = pino({ name: 'cli', level: config.logLevel }, io.stderr);
  const issuer = config.issuer ?? `http://localhost:${config.port}`;
  if (config.mail.smtpUrl) {
    const { smtpMailer } = await import('../gateway/recovery/mailer.ts');
    const mailer = smtpMailer(config.mail.smtpUrl, config.mail.from);
    const notices = securityNotices({ mailer, logger, issuer, context });
    return { notices, sayLeft: () => undefined, close: mailer.close };
  }
  return leftToGateway(securityNotices({ logger, issuer, context }));
}

/** Notes the people whose notices a committed change left in the outbox, to say so once the command is done. */
async function leftToGateway(outbox: NoticeOutbox): Promise<CommandNotices> {
  const { noticeWanted } = await import('../gateway/recovery/notice-mails.ts');
  const accounts = new Set<string>();
  const notices: NoticeOutbox = {
    ...outbox,
    async audited(ctx, entry) {
      await outbox.audited(ctx, entry);
      if (!noticeWanted(entry) || !entry.target) return;
      const account = entry.target;
      // Only a change that was made: one rolled back took its notices with it.
      if (ctx.tx) ctx.tx.afterCommit(() => void accounts.add(account));
      else accounts.add(account);
    },
  };
  const whom = () => {
    const [only] = accounts;
    return accounts.size === 1 ? only : `${accounts.size} people`;
  };
  return {
    notices,
    sayLeft(io) {
      if (accounts.size === 0) return;
      io.stderr.write(
        `Security notices to ${whom()} wait in the gateway's outbox: this command has no SMTP_URL, so the running gateway mails them.\n`,
      );
    },
    close: () => undefined,
  };
}
