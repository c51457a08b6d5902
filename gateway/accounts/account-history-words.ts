import { showingControlCharacters } from '../../core/control-characters.ts';
import { statusChange } from './present-audit-event.ts';

/**
 * One entry of a person's account history in words (account-history.ts): what happened to their account,
 * read from the fields that concern them alone. A field this does not know is left out rather than shown
 * raw, so no detail of another person, unit or app reaches a reader it was not written for.
 */
export type Details = Record<string, unknown>;
/** Whether a unit may be named to the reader: a unit admin reads only the units they administer. */
export type UnitShown = (path: string) => boolean;
type Words = (details: Details, outcome: 'success' | 'failure', shown: UnitShown) => string;

const str = (value: unknown): string | null => (typeof value === 'string' ? showingControlCharacters(value) : null);
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const paths = (value: unknown): string[] => (Array.isArray(value) ? value.filter((p) => typeof p === 'string') : []);
const quoted = (value: unknown) => (str(value) === null ? '' : ` “${str(value)}”`);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const isObject = (value: unknown): value is Details =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const SIGN_IN_REFUSED: Record<string, string> = {
  wrong_password: 'wrong password',
  locked: 'locked out after too many wrong passwords',
  device_locked: 'this browser was locked out after too many wrong passwords',
  disabled: 'the account is disabled (the password was right)',
  temporary_expired: 'the temporary password had expired (the password was right)',
  ip_rate_limited: 'too many failed sign-ins from that address',
  not_verified: 'the passkey could not be verified',
  counter_regression: 'the passkey looks copied (its counter went back)',
};

const SECOND_STEP: Record<string, string> = {
  totp: 'an authenticator code',
  recovery_code: 'a recovery code',
  passkey: 'a passkey',
};

/** Units named as the reader may see them; the others only counted, as "units outside yours". */
function unitList(list: string[], shown: UnitShown): string {
  const visible = list.filter(shown);
  const hidden = list.length - visible.length;
  const parts = [...visible, ...(hidden > 0 ? ['units outside yours'] : [])];
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function unitsChange(before: unknown, after: unknown, shown: UnitShown): string {
  const was = paths(before);
  const now = paths(after);
  const added = now.filter((p) => !was.includes(p));
  const removed = was.filter((p) => !now.includes(p));
  const parts = [
    ...(added.length > 0 ? [`added ${unitList(added, shown)}`] : []),
    ...(removed.length > 0 ? [`removed ${unitList(removed, shown)}`] : []),
  ];
  return parts.length > 0 ? `units changed: ${parts.join('; ')}` : 'primary unit changed';
}

function listChange(field: string, before: unknown, after: unknown): string {
  const was = paths(before);
  const now = paths(after);
  const added = now.filter((r) => !was.includes(r));
  const removed = was.filter((r) => !now.includes(r));
  const parts = [
    ...(added.length > 0 ? [`added ${added.join(', ')}`] : []),
    ...(removed.length > 0 ? [`removed ${removed.join(', ')}`] : []),
  ];
  return `${field} changed${parts.length > 0 ? `: ${parts.join('; ')}` : ''}`;
}

/** An edit (console, CLI, or a directory sync's new email): one clause per field it changed. */
const edited: Words = (details, _outcome, shown) => {
  const before = isObject(details.before) ? details.before : {};
  const changes = isObject(details.changes) ? details.changes : {};
  const same = (key: string) => key in before && JSON.stringify(before[key]) === JSON.stringify(changes[key]);
  const clauses: string[] = [];
  const status = statusChange('user.update', { before, changes } as never);
  if (status) clauses.push(status === 'Disabled' ? 'disabled (their sessions ended)' : 'enabled');
  if ('displayName' in changes && !same('displayName'))
    clauses.push(`name changed from${quoted(before.displayName)} to${quoted(changes.displayName)}`);
  if ('email' in changes && !same('email'))
    clauses.push(`email changed from ${str(before.email) ?? 'none'} to ${str(changes.email) ?? 'none'}`);
  if ('units' in changes && !same('units')) clauses.push(unitsChange(before.units, changes.units, shown));
  if ('roles' in changes && !same('roles')) clauses.push(listChange('roles', before.roles, changes.roles));
  const text = clauses.length > 0 ? clauses.join('; ') : 'account edited';
  const sentence = `${text[0]!.toUpperCase()}${text.slice(1)}`;
  return typeof details.directory === 'string' ? `${sentence} (by their directory)` : sentence;
};

function signIn(details: Details, outcome: 'success' | 'failure'): string {
  const passkey = details.method === 'passkey';
  if (outcome === 'failure') {
    const why = SIGN_IN_REFUSED[String(details.reason)];
    return `Sign-in${passkey ? ' with a passkey' : ''} refused${why ? `: ${why}` : ''}`;
  }
  const where = details.lockedAccount ? ' at a browser they used before, while locked out' : '';
  if (passkey) return `Signed in with a passkey${where}`;
  // Recorded at the password, before any second step or a password of their own to choose: the sign-in
  // went on only if what those steps record follows (a code, a factor set up, a password chosen).
  return `Password accepted${details.directoryUsername ? ', with their directory name' : ''}${where}`;
}

function secondStep(details: Details, outcome: 'success' | 'failure'): string {
  if (outcome === 'failure') {
    if (details.method === 'passkey') return 'Second sign-in step refused: the passkey was not accepted';
    return `Second sign-in step refused${String(details.reason).endsWith('locked') ? ': locked out' : ': wrong code'}`;
  }
  if (details.method === 'recovery_code') return 'Signed in with a recovery code';
  return `Second sign-in step passed with ${SECOND_STEP[String(details.method)] ?? 'a second factor'}`;
}

function passwordReset(details: Details, outcome: 'success' | 'failure'): string {
  if (outcome === 'failure') return 'A password link could not be mailed';
  // Until when it works follows as the entry's `until` (account-history.ts), in the reader's time zone.
  return details.newAccount
    ? `A link to set their first password was mailed to them${str(details.expiresAt) ? '; it works once' : ''}`
    : 'A password reset link was asked for';
}

/** Why a reset link was refused (complete-reset.ts), as the helpdesk tells the person who tried it. */
const LINK_REFUSED: Record<string, string> = {
  used: 'it had already been used',
  expired: 'it had expired',
  cancelled: 'a later change to their account (a new password, email or sign-out everywhere) had cancelled it',
  account_disabled: 'their account is disabled',
};

const linkRefused: Words = (details) => {
  const why = LINK_REFUSED[String(details.reason)];
  return `A password reset link was refused${why ? `: ${why}` : ''}`;
};

/** Why setting up an authenticator app failed (totp.ts, the errors its confirmation throws). */
const ENROL_FAILED: Record<string, string> = {
  invalid_code: 'a wrong code',
  factor_already_enrolled: 'one was set up already',
  enrolment_closed: 'the setup had expired or was started again elsewhere',
};

const appSetUp: Words = (details, outcome) => {
  if (outcome !== 'failure') return 'Authenticator app set up';
  const why = ENROL_FAILED[String(details.reason)];
  return `Setting up an authenticator app failed${why ? `: ${why}` : ''}`;
};

const ended = 'their sessions ended';
const TEMPORARY = '; temporary: they choose their own at their next sign-in';

function factorsReset(details: Details): string {
  const removed = [
    details.totp ? 'authenticator app' : '',
    num(details.passkeys) > 0 ? plural(num(details.passkeys), 'passkey') : '',
    num(details.recoveryCodes) > 0 ? plural(num(details.recoveryCodes), 'recovery code') : '',
  ].filter(Boolean);
  return `Second factor reset: ${removed.join(', ') || 'nothing left'} removed; ${ended}`;
}

/**
 * Which sync of their directory did it: the history's "by" names whoever started a sync by hand, who did
 * not disable the person; their directory did.
 */
const atSync = (details: Details) =>
  details.sync === 'scheduled'
    ? ', at a scheduled sync'
    : details.sync === 'started by an administrator'
      ? `, at a sync an administrator started`
      : '';

/** Each action a person's history shows, with its words; any other action is not part of it. */
export const HISTORY_WORDS: Record<string, Words> = {
  login: signIn,
  'login.second_factor': secondStep,
  'account.locked': () => 'Locked after too many wrong passwords',
  'user.unlock': () => 'Lockout lifted',
  'password.change': (d, outcome) =>
    outcome === 'failure'
      ? 'A change of password was refused'
      : d.replacedTemporary
        ? 'Chose their own password at sign-in, replacing a temporary one'
        : `Password changed (${ended})`,
  'user.reset_password': (d) =>
    `${d.firstPassword ? 'First password set' : `Password reset (${ended})`}${d.temporary ? TEMPORARY : ''}`,
  'password_reset.request': passwordReset,
  'password_reset.use': (d) =>
    d.firstPassword ? 'First password set with the link mailed to them' : `Password reset with a reset link (${ended})`,
  'password_reset.refused': linkRefused,
  'password_reset.mail_failed': () =>
    'A password reset mail they asked for could not be sent (the mail server did not take it)',
  'factor.enrol': appSetUp,
  'factor.replace': () => 'Authenticator app replaced by a new one',
  'factor.remove': () => 'Authenticator app removed',
  'factor.recovery_codes': (d) => `New recovery codes made (${num(d.issued)}); any unused old ones stopped working`,
  'passkey.register': (d, outcome) =>
    outcome === 'failure' ? 'Adding a passkey failed' : `Passkey${quoted(d.name)} added`,
  'passkey.rename': (d) => `Passkey renamed from${quoted(d.from)} to${quoted(d.to)}`,
  'passkey.remove': (d) => `Passkey${quoted(d.name)} removed`,
  'passkey.counter_regression': (d) => `Passkey${quoted(d.name)} refused: it looks copied (its counter went back)`,
  'user.reset_factors': factorsReset,
  'account.confirm': (_d, outcome) =>
    outcome === 'failure' ? 'Confirming it was them failed' : 'Confirmed it was them, for a sensitive change',
  'user.create': (d, _o, shown) => `Account created in ${unitList(paths(d.units), shown)}`,
  'user.update': edited,
  'user.disable': (d) => `Disabled by their directory${atSync(d)} (${ended})`,
  'user.enable': (d) => `Enabled again by their directory${atSync(d)}`,
  'user.sign_out_everywhere': (d) =>
    d.own
      ? 'Signed themselves out everywhere'
      : d.passwordChanged
        ? 'Signed out everywhere: their directory password changed'
        : 'Signed out everywhere',
  'user.sign_out_device': (d) => `Signed out of one device${str(d.device) ? `: ${str(d.device)}` : ''}`,
  logout: () => 'Signed out',
  'console.sign_in': (_d, outcome) =>
    outcome === 'failure' ? 'Refused at the admin console' : 'Signed in to the admin console',
  'directory.provision': () => 'Account brought in from their directory at their first sign-in',
  'directory.relink': () => 'Linked to a new entry of their directory',
  'user.keep_administrator': () => 'Kept as the last active administrator although their directory said otherwise',
  'notice.given_up': (d) => {
    const to = str(d.to) ? ` at ${str(d.to)}` : '';
    return `A security notice could not be mailed to them${to}${str(d.subject) ? ` (“${str(d.subject)}”)` : ''}`;
  },
};

export const HISTORY_ACTIONS = Object.keys(HISTORY_WORDS);
