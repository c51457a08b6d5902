import { withoutControlCharacters } from '../../core/control-characters.ts';
import type { AuditEntry } from '../audit.ts';
import type { Actor, Place } from '../context.ts';
import { serviceName } from '../place.ts';
import { mailSignature, type Mail } from './mailer.ts';

/** What a notice says besides the change itself: to whom, when, by whom, from where. */
export type NoticeFacts = {
  user: { id: string; username: string; displayName: string; email: string };
  actor: Actor;
  at: Date;
  /** The browser and address the change came from ("Firefox on Linux, address 203.0.113.5"), when known. */
  device: string | null;
  /** The account page, where the person sees their sign-ins and second factors. */
  accountPage: string;
  /** The campus's name, which the mail says for "Atrium", and signs with (context.ts); absent, it says "Atrium". */
  place?: Place;
};

/**
 * One change as its mail tells it: the subject, then a sentence or two of what happened and what follows.
 * `greet`: the name the mail greets, where not the account's present name (null: no name at all).
 */
type Change = { subject: string; said: string[]; to?: string; greet?: string | null };

type Details = Record<string, unknown>;
/** `service` is what the mail calls the accounts' service: "Atrium", or the campus's name (place.ts). */
type Describe = (entry: AuditEntry, account: string, service: string) => Change[] | null;

/**
 * Who made the change, in the notice's words. An administrator is never named: the person is told their
 * campus administrators did it, and the helpdesk can read the audit log for who.
 */
type By = 'self' | 'sign-in' | 'reset-link' | 'administrators' | 'directory';

const SIGNED_OUT = 'You were signed out everywhere: sign in again with the new password.';

/** An administrator's password to be replaced (update-user.ts resetPassword): what the next sign-in asks. */
const temporaryWords = (entry: AuditEntry): string[] =>
  entry.details?.temporary === true
    ? [
        'It is temporary: at your next sign-in, after your password, you will be asked to choose a password of your own.',
      ]
    : [];

const describers: Record<string, Describe> = {
  'user.reset_password': (entry, account, service) => [
    entry.details?.firstPassword === true
      ? {
          subject: `A password was set for your ${service} account`,
          said: [
            `Your campus administrators set a password for your ${service} account ${account}, which had none until now.`,
            ...temporaryWords(entry),
          ],
        }
      : {
          subject: `Your ${service} password was reset`,
          said: [
            `Your campus administrators set a new password for your ${service} account ${account}.`,
            SIGNED_OUT,
            ...temporaryWords(entry),
          ],
        },
  ],
  'password.change': (entry, account, service) => [
    entry.details?.replacedTemporary === true
      ? {
          subject: `Your ${service} password was changed`,
          said: [
            `The password of your ${service} account ${account} was changed at a sign-in, replacing the temporary one your campus administrators had set.`,
          ],
        }
      : {
          subject: `Your ${service} password was changed`,
          said: [`The password of your ${service} account ${account} was changed.`, SIGNED_OUT],
        },
  ],
  // A new account's first password, chosen through the link mailed to this very address to welcome the
  // person, tells them nothing they did not just do: whoever could use the link reads this mail too.
  'password_reset.use': (entry, account, service) =>
    entry.details?.firstPassword === true
      ? null
      : [
          {
            subject: `Your ${service} password was changed`,
            said: [
              `The password of your ${service} account ${account} was changed through a reset link mailed to this address.`,
              SIGNED_OUT,
            ],
          },
        ],
  'user.reset_factors': (entry, account, service) => [
    {
      subject: `The second factors of your ${service} account were removed`,
      said: [
        `Your campus administrators removed the second factors of your ${service} account ${account}: ${factorsRemoved(entry.details ?? {})}.`,
        entry.details?.secondFactorRequired === true
          ? 'You were signed out everywhere. Your campus requires a second factor for your account: when you next sign in, after your password, you will be asked to set one up again.'
          : 'You were signed out everywhere. You now sign in with your password alone; you can set up a second factor again on your account page.',
      ],
    },
  ],
  'factor.remove': (entry, account, service) =>
    entry.details?.factor === 'totp'
      ? [
          {
            subject: `The authenticator app was removed from your ${service} account`,
            said: [
              `The authenticator app was removed from your ${service} account ${account}; it no longer signs you in.`,
              ...codesWentWithIt(entry.details),
            ],
          },
        ]
      : null,
  'passkey.remove': (entry, account, service) => [
    {
      subject: `A passkey was removed from your ${service} account`,
      said: [
        `The passkey${passkeyName(entry.details ?? {})} was removed from your ${service} account ${account}; it no longer signs you in.`,
        ...codesWentWithIt(entry.details ?? {}),
      ],
    },
  ],
  // Whoever made them saw them once, and each stands in for a second factor: someone with a session could
  // take them away to sign in later.
  'factor.recovery_codes': (entry, account, service) => [
    {
      subject: `New recovery codes were made for your ${service} account`,
      said: [
        `New recovery codes were made for your ${service} account ${account}. They were shown once, to whoever made them, and each of them stands in for your second factor at a sign-in.`,
        ...(Number(entry.details?.replacedUnused ?? 0) > 0 ? ['The recovery codes made before no longer work.'] : []),
      ],
    },
  ],
  // Its owner uses one only when their phone or key is gone; anyone else holding one took it (see above).
  'login.second_factor': (entry, account, service) =>
    entry.details?.method === 'recovery_code'
      ? [
          {
            subject: `A recovery code was used to sign in to your ${service} account`,
            said: [
              `One of the recovery codes of your ${service} account ${account} was used to sign in, in place of your second factor; it no longer works.`,
            ],
          },
        ]
      : null,
  'factor.enrol': (entry, account, service) =>
    entry.details?.factor === 'totp'
      ? [
          {
            subject: `An authenticator app was added to your ${service} account`,
            said: [
              `An authenticator app was set up as a second factor of your ${service} account ${account}.`,
              ...codesWithApp(entry.details ?? {}),
            ],
          },
        ]
      : null,
  // The person's own "replace the authenticator app" (gateway/factors/replace-totp.ts): the old app stops working.
  'factor.replace': (entry, account, service) =>
    entry.details?.factor === 'totp'
      ? [
          {
            subject: `The authenticator app of your ${service} account was replaced`,
            said: [
              `A new authenticator app replaced the one set up for your ${service} account ${account}; the old one no longer signs you in.`,
            ],
          },
        ]
      : null,
  'passkey.register': (entry, account, service) => [
    {
      subject: `A passkey was added to your ${service} account`,
      said: [`A passkey${passkeyName(entry.details ?? {})} was added to your ${service} account ${account}.`],
    },
  ],
  'user.update': emailChanged,
  // Told only when an administrator did it (the console, `atrium users sign-out`): the person's own button
  // signs out the browser they are in, and a directory's is told of with the password they changed there.
  'user.sign_out_everywhere': (entry, account, service) =>
    entry.details?.own === true || typeof entry.details?.directory === 'string'
      ? null
      : [
          {
            subject: `Your ${service} account was signed out everywhere`,
            said: [
              `Your campus administrators signed your ${service} account ${account} out everywhere: every browser, device and app signed in to it was signed out, and its open chats were closed.`,
              'Your password is unchanged: sign in again with it. If someone else may know it, choose a new one on your account page.',
            ],
          },
        ],
  // One device, from the console's person page: told as the whole sign-out is, naming the device it ended.
  'user.sign_out_device': (entry, account, service) =>
    entry.details?.own === true
      ? null
      : [
          {
            subject: `A device was signed out of your ${service} account`,
            said: [
              `Your campus administrators signed your ${service} account ${account} out on ${signedOutDevice(entry.details ?? {})}: that browser and the apps signed in through it were signed out, and its open chats were closed. Your other devices stay signed in.`,
              'Your password is unchanged. If you do not know that device, choose a new password on your account page.',
            ],
          },
        ],
};

/** The device a console sign-out ended, as its line recorded it: "Safari on macOS (address 10.0.0.7)". */
function signedOutDevice(details: Details): string {
  const device = typeof details.device === 'string' ? details.device : 'one of its devices';
  return typeof details.ip === 'string' ? `${device} (address ${details.ip})` : device;
}

/**
 * Whether the entry tells the person anything, judged from the entry alone: most edits (`user.update`
 * without a new email) tell nothing, and then the account is not even read.
 */
export function noticeWanted(entry: AuditEntry): boolean {
  if ((entry.outcome ?? 'success') !== 'success' || !entry.target) return false;
  const describe = Object.hasOwn(describers, entry.action) ? describers[entry.action] : undefined;
  return (describe?.(entry, '', 'Atrium')?.length ?? 0) > 0;
}

function factorsRemoved(details: Details): string {
  const removed: string[] = [];
  if (details.totp === true) removed.push('the authenticator app');
  const passkeys = Number(details.passkeys ?? 0);
  if (passkeys > 0) removed.push(passkeys === 1 ? '1 passkey' : `${passkeys} passkeys`);
  if (Number(details.recoveryCodes ?? 0) > 0) removed.push('the recovery codes');
  return removed.length > 0 ? removed.join(', ') : 'all of them';
}

/** Where the factor removed was the last, its recovery codes went with it (last-factor.ts). */
function codesWentWithIt(details: Details): string[] {
  return Number(details.recoveryCodes ?? 0) > 0
    ? ['It was your last second factor, so your recovery codes were removed with it.']
    : [];
}

/**
 * What became of the recovery codes when an authenticator app was added: kept, or made with it; only where
 * unused ones existed before (`replacedUnused`, counted at the enrolment) are they said to stop working.
 */
function codesWithApp(details: Details): string[] {
  if (details.recoveryCodesKept === true)
    return ['Your recovery codes are unchanged: the ones you already keep still work.'];
  return Number(details.replacedUnused ?? 0) > 0
    ? ['New recovery codes were made with it, shown once to whoever set it up; any made before no longer work.']
    : ['Recovery codes were made with it, shown once to whoever set it up.'];
}

function passkeyName(details: Details): string {
  const name = typeof details.name === 'string' ? withoutControlCharacters(details.name) : '';
  return name ? ` named "${name}"` : '';
}

/**
 * An edit that changed the address: the old one is told, with the new one masked (whoever reads the old
 * mailbox may no longer be the person), and the new one is told it now receives the account's mail. For
 * the same reason the old address is greeted by the name the account had before the edit, which that
 * mailbox knew already, never by a new one changed with it; a record without it greets no name.
 */
function emailChanged(entry: AuditEntry, account: string, service: string): Change[] | null {
  const details = entry.details ?? {};
  const before = (details.before as Details | undefined)?.email;
  const after = (details.changes as Details | undefined)?.email;
  if (typeof before !== 'string' || typeof after !== 'string' || before === after) return null;
  const subject = `The email address of your ${service} account was changed`;
  const oldName = (details.before as Details | undefined)?.displayName;
  return [
    {
      to: before,
      greet: typeof oldName === 'string' && oldName.trim() !== '' ? oldName : null,
      subject,
      said: [
        `The email address of your ${service} account ${account} was changed from ${before} to ${masked(after)}.`,
        'Mail about this account, password reset links included, now goes to the new address, not to this one.',
      ],
    },
    {
      to: after,
      subject,
      said: [
        `The email address of your ${service} account ${account} was changed to this address (it was ${masked(before)}).`,
        'Mail about this account, password reset links included, now comes here.',
      ],
    },
  ];
}

/**
 * The audit detail of a password set where there was none on an account never signed in to: a new
 * account's first password (its set-password link, "Forgot your password?" before any sign-in, or an
 * administrator giving one), which its notice does not call a reset (`user.reset_password`) or does not
 * send at all (`password_reset.use`, the person's own link). Read before the password is set.
 */
export function firstPasswordDetail(user: { passwordHash: string | null; lastLoginAt: Date | null }): {
  firstPassword?: true;
} {
  return user.passwordHash === null && user.lastLoginAt === null ? { firstPassword: true } : {};
}

/** An address with its mailbox name hidden but its first letter: "a***@campus.test". */
export function masked(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return '***';
  return `${address.charAt(0)}***${address.slice(at)}`;
}

function whoActed(entry: AuditEntry, facts: NoticeFacts): By {
  if (entry.action === 'password_reset.use') return 'reset-link';
  if (entry.action === 'login.second_factor') return 'sign-in';
  // A directory sync (apply-page.ts) names its directory, whoever started it.
  if (typeof entry.details?.directory === 'string') return 'directory';
  return facts.actor.kind === 'user' && facts.actor.id === facts.user.id ? 'self' : 'administrators';
}

const BY_WORDS: Record<By, string> = {
  self: 'you, signed in to your account',
  'sign-in': 'whoever signed in with your password and the recovery code',
  'reset-link': 'whoever opened the reset link mailed to this address',
  administrators: 'your campus administrators',
  directory: 'your campus directory, from which Atrium takes your details',
};

/** When the change needs nothing more of the person: what they did, or asked for, themselves. */
const IF_EXPECTED: Record<By, string> = {
  self: 'If this was you, there is nothing more to do.',
  'sign-in': 'If this was you, there is nothing more to do.',
  'reset-link': 'If this was you, there is nothing more to do.',
  administrators: 'If you asked your campus helpdesk for this, there is nothing more to do.',
  directory:
    'If you expected this change (you asked for it, or made it in the campus directory), there is nothing more to do.',
};

const IF_NOT_YOU: Record<By, string> = {
  self: 'If this was not you, someone else is using your account: contact your campus helpdesk at once.',
  'sign-in':
    'If this was not you, someone else has your password and your recovery codes: contact your campus helpdesk at once.',
  'reset-link':
    'If this was not you, someone else read your mail and is using your account: contact your campus helpdesk at once.',
  administrators:
    'If you did not ask for this, someone may have asked for it in your name: contact your campus helpdesk at once.',
  directory:
    'If you did not ask for this, someone may have changed it in the campus directory in your name: contact your campus helpdesk at once.',
};

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = 'January February March April May June July August September October November December'.split(' ');
const twoDigits = (n: number) => String(n).padStart(2, '0');

/**
 * A time as the notice states it, the same for every reader and every ICU build: "Monday 7 December 2026,
 * 10:52 UTC" (the mail cannot know the reader's time zone).
 */
export function noticeTime(at: Date): string {
  const date = `${DAYS[at.getUTCDay()]} ${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCFullYear()}`;
  return `${date}, ${twoDigits(at.getUTCHours())}:${twoDigits(at.getUTCMinutes())} UTC`;
}

/**
 * The plain-text mails that tell a person of a change to their account's security, or none when the
 * audited action is not one they are told of. Nothing secret is in them (no password, code or link that
 * does anything): only what changed, when, by whom, from where when it was them, and what to do if not.
 */
export function noticeMails(entry: AuditEntry, facts: NoticeFacts): Mail[] {
  if ((entry.outcome ?? 'success') !== 'success') return [];
  const by = whoActed(entry, facts);
  const describe = Object.hasOwn(describers, entry.action) ? describers[entry.action] : undefined;
  const changes = describe?.(entry, `"${facts.user.username}"`, serviceName(facts.place)) ?? [];
  return changes
    .map((change) => ({ change, to: (change.to ?? facts.user.email).trim() }))
    .filter(({ to }) => to !== '')
    .map(({ change, to }) => ({ to, subject: change.subject, text: noticeText(change, by, facts) }));
}

function noticeText(change: Change, by: By, facts: NoticeFacts): string {
  const name = change.greet === undefined ? facts.user.displayName : change.greet;
  return [
    name === null ? 'Hello,' : `Hello ${name},`,
    '',
    ...change.said,
    '',
    `When: ${noticeTime(facts.at)}`,
    `By: ${BY_WORDS[by]}`,
    // Where an administrator or a directory sync acted, the device and address are not the person's to know.
    ...(by !== 'administrators' && by !== 'directory' && facts.device ? [`From: ${facts.device}`] : []),
    '',
    IF_EXPECTED[by],
    IF_NOT_YOU[by],
    `Your account page lists where you are signed in and your second factors: ${facts.accountPage}`,
    '',
    `This mail only tells you of a change; it asks nothing of you. ${serviceName(facts.place)} never asks for your password by mail.`,
    '',
    ...mailSignature(facts.place),
  ].join('\n');
}
