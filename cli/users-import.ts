import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { AppError } from '../core/errors.ts';
import { importUsers, IMPORT_COLUMNS, type ImportResult } from '../gateway/accounts/import-users.ts';
import type { NewAccountMail, WelcomeSent } from '../gateway/accounts/new-account-link.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { MailFailure } from '../gateway/recovery/mailer.ts';
import type { Command, Io } from './command.ts';
import { createProgressBar } from './progress.ts';
import { withSession } from './session.ts';

async function readImportFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (error as Error).message;
    throw new AppError('file_unreadable', 400, `Cannot read ${path}: ${why}`);
  }
}

/**
 * Where the welcome mails go: the gateway's mail server (SMTP_URL), as the console's welcome. Without it
 * this command mails nothing (nor does the console); the nodemailer module is loaded only when it mails.
 */
async function welcomeMail(config: GatewayConfig): Promise<NewAccountMail | null> {
  if (!config.mail.smtpUrl) return null;
  const { smtpMailer } = await import('../gateway/recovery/mailer.ts');
  const issuer = config.issuer ?? `http://localhost:${config.port}`;
  return { issuer, mailer: smtpMailer(config.mail.smtpUrl, config.mail.from) };
}

type Welcoming = 'welcome' | 'no-welcome' | 'no-smtp';
/** How --json says it: mailed, skipped with --no-welcome, or not mailed for want of SMTP_URL. */
const WELCOME_WORD: Record<Welcoming, string> = { welcome: 'mailed', 'no-welcome': 'skipped', 'no-smtp': 'no_smtp' };

async function runImport(path: string, io: Io, welcome: boolean) {
  const bytes = await readImportFile(path);
  const bar = createProgressBar(io.stderr);
  const started = performance.now();
  try {
    const { result, welcoming } = await withSession(io, async ({ ctx, config }) => {
      const mail = welcome ? await welcomeMail(config) : null;
      try {
        const onProgress = (p: { phase: string; done: number; total: number }) =>
          bar?.update(p.phase.padEnd(9), p.done, p.total);
        const result = await importUsers(ctx, bytes, { onProgress, welcome: mail });
        const welcoming: Welcoming = mail ? 'welcome' : welcome ? 'no-smtp' : 'no-welcome';
        return { result, welcoming };
      } finally {
        mail?.mailer.close();
      }
    });
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    return { result, welcoming, seconds };
  } finally {
    bar?.end();
  }
}

const FORGOT = 'they can ask for a link with "Forgot your password?" when signing in';

/** A welcome the mail server did not take, in an operator's words. */
function whyNotMailed(failure: MailFailure): string {
  const code = failure.responseCode ? ` ${failure.responseCode}` : '';
  switch (failure.error) {
    case 'ETIMEDOUT':
      return 'the mail server did not answer in time';
    case 'EENVELOPE':
      return `the mail server refused the address (${failure.error}${code})`;
    case 'ESOCKET':
    case 'ECONNECTION':
      return `no mail server answered at SMTP_URL (${failure.error})`;
    case 'EAUTH':
      return `the mail server refused SMTP_URL's login (${failure.error}${code})`;
    default:
      return `the mail server did not take it (${failure.error}${code})`;
  }
}

/** What the summary says of the people imported without a password, and of each welcome not mailed. */
function welcomeLines(result: ImportResult, welcoming: Welcoming): string[] {
  const count = result.withoutPassword;
  if (count === 0) return [];
  const people = count === 1 ? '1 person without a password' : `${count} people without a password`;
  if (welcoming === 'no-welcome') return [`No welcome was mailed (--no-welcome) to the ${people}: ${FORGOT}.`];
  if (welcoming === 'no-smtp')
    return [
      `No welcome was mailed to the ${people}: this command has no SMTP_URL (the gateway's mail server); ${FORGOT}.`,
    ];
  const failed = (result.welcomes ?? []).filter((w) => w.failure);
  const mailed = count - failed.length;
  const lines = [`Mailed a welcome with a link to choose their password to ${mailed} of the ${people}.`];
  if (failed.length === 0) return lines;
  lines.push(`Not mailed (${FORGOT}, or set one: atrium users reset-password USERNAME --password-stdin):`);
  for (const w of failed) lines.push(`  ${w.username} <${w.email}>: ${whyNotMailed(w.failure!)}`);
  return lines;
}

const presentWelcome = (w: WelcomeSent) => ({
  username: w.username,
  email: w.email,
  mailed: w.failure === null,
  ...(w.failure && { failure: w.failure }),
});

export const importCommand: Command = {
  summary:
    'Imports users from a CSV file, all or nothing: any bad row rejects the whole file, listing every problem by line.',
  args: ['FILE.csv'],
  options: {
    'no-welcome': {
      type: 'boolean',
      help: 'mail no welcome to the people imported without a password (by default each gets one, as from the console)',
    },
  },
  notes: [
    `The file needs the header ${IMPORT_COLUMNS.join(',')} (password may be left out or empty).`,
    'units and roles hold several values separated by ";"; the first unit is the primary one.',
    'Once every row is in, each person without a password is mailed the welcome a person made in the console',
    'gets, with a link to choose their password (it works once, within 3 days), through SMTP_URL; a mail not',
    'taken is listed, and changes nothing else. They can also ask for a link with "Forgot your password?".',
    'A password given in the file is temporary: the person chooses their own at their first sign-in.',
    'Example:',
    `  ${IMPORT_COLUMNS.join(',')}`,
    '  jdoe,Jane Doe,jdoe@campus.test,campus/eng/cs;campus/arts,student,correct-horse-battery',
  ].join('\n'),
  async run(args, io) {
    const file = args.positionals[0]!;
    const { result, welcoming, seconds } = await runImport(file, io, !args.flag('no-welcome'));
    const { welcomes, ...counts } = result;
    return {
      json: {
        file: basename(file),
        ...counts,
        seconds,
        welcome: WELCOME_WORD[welcoming],
        welcomes: (welcomes ?? []).map(presentWelcome),
      },
      text: [
        `Imported ${result.imported} user(s) from ${basename(file)} in ${seconds} s.`,
        ...welcomeLines(result, welcoming),
      ].join('\n'),
    };
  },
};
