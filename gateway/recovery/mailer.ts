import nodemailer from 'nodemailer';
import type { Logger } from '../../core/logger.ts';
import type { Place } from '../context.ts';

export type Mail = { to: string; subject: string; text: string };

/**
 * Sends one plain-text mail; rejects when the mail server does not take it. A `signal` that aborts ends the
 * send (and its connection) with a rejection.
 */
export type Mailer = { send(mail: Mail, signal?: AbortSignal): Promise<void>; close(): void };

/**
 * The lines that end a mail where the campus has a name (CAMPUS_NAME): who sent it and where to find them,
 * after the "-- " separator that mail programs recognise, and a line break. None without a name: the mails
 * end as before.
 */
export function mailSignature(place: Place | undefined): string[] {
  return place?.campusName ? ['-- ', place.campusName, place.issuer, ''] : [];
}

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

/**
 * The send, aborted (its connection closed) and rejected with an `ETIMEDOUT` error when the mail server has
 * not taken the mail within `ms`: the mailer's own timeouts end a silent server only stage by stage, and a
 * server that keeps trickling never.
 */
export function sendWithin(mailer: Mailer, mail: Mail, ms: number): Promise<void> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = Object.assign(new Error(`the mail server did not answer within ${ms / 1000} s`), {
        code: 'ETIMEDOUT',
      });
      abort.abort(error);
      reject(error);
    }, ms).unref();
  });
  return Promise.race([mailer.send(mail, abort.signal), late]).finally(() => clearTimeout(timer));
}

/** What went wrong with a mail, for the audit log: nodemailer's error code and the mail server's reply code. */
export type MailFailure = { error: string; responseCode?: number };

/**
 * The kind of a mailer's rejection (`ESOCKET`: no mail server there; `ETIMEDOUT`: it did not answer;
 * `EENVELOPE`: it refused the address; `EAUTH`: it refused SMTP_URL's login...), for the audit log; the
 * server's own words are for the process's log. Anything else is `unknown`.
 */
export function mailFailureOf(error: unknown): MailFailure {
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  const kind = typeof code === 'string' && /^[A-Z_]{1,32}$/.test(code) ? code : 'unknown';
  return typeof responseCode === 'number' ? { error: kind, responseCode } : { error: kind };
}
