import nodemailer from 'nodemailer';
import type { Logger } from '../../core/logger.ts';

export type Mail = { to: string; subject: string; text: string };

/** Sends one plain-text mail; rejects when the mail server does not take it. */
export type Mailer = { send(mail: Mail): Promise<void>; close(): void };

/** Through the campus mail server (SMTP_URL), with nodemailer. */
export function smtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close: () => transport.close(),
  };
}

/**
 * The demo's "mail server": the mail goes to the log (stdout), so the link can be followed without one.
 * Only used outside production, since whoever reads the log could then reset anyone's password.
 */
export function logMailer(logger: Logger): Mailer {
  return {
    async send(mail) {
      logger.info({ to: mail.to, subject: mail.subject }, `mail not sent (no SMTP_URL configured):\n${mail.text}`);
    },
    close: () => undefined,
  };
}
