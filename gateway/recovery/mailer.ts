import nodemailer from 'nodemailer';
import type { Logger } from '../../core/logger.ts';

export type Mail = { to: string; subject: string; text: string };

/**
 * Sends one plain-text mail; rejects when the mail server does not take it. A `signal` that aborts ends the
 * send (and its connection) with a rejection.
 */
export type Mailer = { send(mail: Mail, signal?: AbortSignal): Promise<void>; close(): void };

/** How long the mail server may keep a send waiting, in milliseconds, at each stage (nodemailer's options). */
export type MailTimeouts = { connectionTimeout: number; greetingTimeout: number; socketTimeout: number };

/**
 * To connect (DNS and TCP, and the greeting within it), to greet, and of silence once talking. nodemailer's own
 * defaults (2 minutes to connect, 10 minutes of silence) left a mail server that accepts and never answers
 * holding a connection, and a notice's turn, for 10 minutes; a mail server that is up answers in seconds.
 * SMTP_URL may set others as query parameters (`?socketTimeout=120000`), which win.
 */
export const MAIL_TIMEOUTS: MailTimeouts = {
  connectionTimeout: 30_000,
  greetingTimeout: 30_000,
  socketTimeout: 60_000,
};

/** Through the campus mail server (SMTP_URL), with nodemailer. */
export function smtpMailer(smtpUrl: string, from: string, timeouts: MailTimeouts = MAIL_TIMEOUTS): Mailer {
  const transport = nodemailer.createTransport({ ...timeouts, url: smtpUrl });
  return {
    async send(mail, signal) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, signal });
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
