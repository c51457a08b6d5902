import { isIP } from 'node:net';
import { Op } from 'sequelize';
import { ValidationError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';

/**
 * Refuses passwords that are easy to guess although long enough, as NIST SP 800-63B asks of a verifier:
 * the commonly used ones, runs of keys, and ones made of what anyone knows of the person or the place
 * (their username, name and mail, "Atrium", the campus). A guesser tries those first, whatever the digits
 * and signs around them, so the check looks through case, leetspeak and what is added at either end.
 * A passphrase that merely contains such a word among others is not refused: only a password that is
 * essentially one of them. Local and without a list copied from elsewhere: the words below are the base
 * words of the most used passwords, from general knowledge, and variations of them are found by the rules.
 */

/** Base words of the most commonly used passwords; a digit or sign at either end adds nothing to them. */
const COMMON_WORDS = `
  password passwort passphrase motdepasse contrasena qwerty qwertz azerty letmein welcome iloveyou loveyou
  loveme admin administrator root guest user login logon access default changeme change secret private
  trustno trustnoone monkey dragon football baseball basketball soccer hockey sunshine princess master
  shadow superman batman spiderman starwars pokemon hello world freedom whatever nothing mustang killer
  ninja jesus angel baby babygirl lovely love family friends forever flower cookie cheese pepper ginger
  tigger buster hunter ranger charlie michael jennifer jordan thomas daniel computer internet google
  facebook apple samsung system server temp temporary test testing student teacher school college
  university campus summer winter spring autumn january february march april june july august september
  october november december
`
  .trim()
  .split(/\s+/);

/**
 * Rows of a keyboard (plain and shifted, and its diagonal columns such as 1qaz2wsx), the alphabet and the
 * digits: a run along any of them, either way, is a pattern rather than a secret.
 */
const RUNS = [
  '`1234567890-=',
  '~!@#$%^&*()_+',
  'qwertyuiop[]\\',
  "asdfghjkl;'",
  'zxcvbnm,./',
  'qwertzuiop',
  'azertyuiop',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/',
  'abcdefghijklmnopqrstuvwxyz',
  '01234567890',
];

const LEET: Record<string, string> = { '0': 'o', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/** At most this many letters and digits may be left once the known words are taken out. */
const LEFT_OVER = 3;

export type PasswordReason = 'common' | 'pattern' | 'username' | 'name' | 'email' | 'place';

export const WEAK_PASSWORD_REASONS: Record<PasswordReason, string> = {
  common: 'It is one of the most common passwords.',
  pattern: 'It is a run of keyboard keys or repeated characters.',
  username: 'It is mostly your username.',
  name: 'It is mostly your name.',
  email: 'It is mostly your email address.',
  place: 'It is mostly the name of Atrium or of the campus.',
};

/** What is known of the person and the place, which a guesser would try. */
export type PasswordContext = {
  username?: string | null;
  displayName?: string | null;
  email?: string | null;
  /** The campus's own words: its units' and domains' names (campusWords); "atrium" is always one. */
  place?: string[];
};

/** Why the password is too easy to guess, in words for the person choosing it; null when it is not. */
export function weakPasswordReason(password: string, context: PasswordContext = {}): string | null {
  const reason = weakness(password.normalize('NFKC').toLowerCase(), context);
  return reason ? WEAK_PASSWORD_REASONS[reason] : null;
}

function weakness(password: string, context: PasswordContext): PasswordReason | null {
  if (isPattern(password)) return 'pattern';
  const words = knownWords(context);
  for (const core of cores(password)) {
    if (core.length === 0) continue;
    const unit = repeatedUnit(core);
    if (unit !== null && unit.length <= 5) return 'pattern';
    const found = mostlyKnown(unit ?? core, words);
    if (found) return found;
  }
  return null;
}

/** Whether all but two characters belong to runs of three or more keys, letters, digits or one character. */
function isPattern(password: string): boolean {
  const chars = [...password];
  let uncovered = 0;
  for (let i = 0; i < chars.length; ) {
    const length = runAt(chars, i);
    if (length >= 3) i += length;
    else {
      uncovered += 1;
      i += 1;
    }
  }
  return uncovered <= 2 || (repeatedUnit(password)?.length ?? Infinity) <= 5;
}

/** The length of the longest run (along RUNS either way, or of one character) starting at `i`. */
function runAt(chars: string[], i: number): number {
  let same = 1;
  while (chars[i + same] === chars[i]) same += 1;
  let best = same;
  for (const row of RUNS) {
    for (const line of [row, [...row].reverse().join('')]) {
      let length = 1;
      let at = line.indexOf(chars[i]!);
      if (at < 0) continue;
      while (at + length < line.length && line[at + length] === chars[i + length]) length += 1;
      best = Math.max(best, length);
    }
  }
  return best;
}

/** The shortest string the whole repeats (at least twice, the last time perhaps in part), or null. */
function repeatedUnit(text: string): string | null {
  for (let size = 1; size <= text.length / 2; size += 1) {
    const unit = text.slice(0, size);
    if (unit.repeat(Math.ceil(text.length / size)).slice(0, text.length) === text) return unit;
  }
  return null;
}

/**
 * The password without what is added at either end (digits, signs), read through leetspeak: stripped
 * before and after the reading, and with 1 read as l and as i, since any of these may be what was meant.
 */
function cores(password: string): string[] {
  const strip = (text: string) => text.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  const out = new Set<string>();
  for (const one of ['l', 'i']) {
    const leet = (text: string) => text.replace(/[013457@$]/g, (c) => (c === '1' ? one : LEET[c]!));
    out.add(leet(strip(password)));
    out.add(strip(leet(password)));
  }
  return [...out];
}

type KnownWord = { word: string; reason: PasswordReason };

function knownWords(context: PasswordContext): KnownWord[] {
  const words: KnownWord[] = [];
  const add = (reason: PasswordReason, text: string | null | undefined) => {
    const lower = (text ?? '').normalize('NFKC').toLowerCase();
    const parts = lower.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    for (const word of [...parts, parts.join('')]) if ([...word].length >= 3) words.push({ word, reason });
  };
  add('username', context.username);
  add('name', context.displayName);
  add('email', context.email?.split('@')[0]);
  add('place', 'atrium');
  for (const word of context.place ?? []) add('place', word);
  for (const word of COMMON_WORDS) words.push({ word, reason: 'common' });
  // The longest first (the person's own before common ones of a length), so that a name is taken out
  // whole before a common word inside it.
  return words.sort((a, b) => b.word.length - a.word.length);
}

/**
 * Whether the core is essentially known words: once each of them is taken out, at most LEFT_OVER letters
 * and digits are left. The word that took out the most says why, the person's own ones first.
 */
function mostlyKnown(core: string, words: KnownWord[]): PasswordReason | null {
  let rest = core;
  const taken = new Map<PasswordReason, number>();
  for (const { word, reason } of words) {
    if (!rest.includes(word)) continue;
    const pieces = rest.split(word);
    rest = pieces.join(' ');
    taken.set(reason, (taken.get(reason) ?? 0) + (pieces.length - 1) * word.length);
  }
  if (taken.size === 0) return null;
  const left = rest.replace(/[^\p{L}\p{N}]/gu, '');
  if ([...left].length > LEFT_OVER) return null;
  const order: PasswordReason[] = ['username', 'name', 'email', 'place', 'common'];
  return order.reduce<PasswordReason | null>(
    (best, reason) => ((taken.get(reason) ?? 0) > (best ? (taken.get(best) ?? 0) : 0) ? reason : best),
    null,
  );
}

/**
 * The campus's own words, which anyone there would guess: its name (CAMPUS_NAME), the names and paths of
 * its top units, and the labels of its chat domains and of the gateway's host, which every sign-in page
 * shows in the address bar, less the labels every host name has.
 */
export async function campusWords(ctx: GatewayContext): Promise<string[]> {
  const units = await ctx.models.OrgUnit.findAll({
    where: { path: { [Op.notLike]: '%/%' } },
    attributes: ['path', 'name'],
    transaction: ctx.tx,
  });
  const domains = await ctx.models.Domain.findAll({ attributes: ['name'], transaction: ctx.tx });
  const hosts = [...domains.map((d) => d.name), ...(ctx.place ? [new URL(ctx.place.issuer).hostname] : [])];
  const labels = hosts
    .filter((host) => isIP(host.replace(/^\[|\]$/g, '')) === 0)
    .flatMap((host) => host.toLowerCase().split('.'))
    .filter((label) => !GENERIC_LABELS.has(label));
  const named = ctx.place?.campusName ? [ctx.place.campusName] : [];
  return [...new Set([...named, ...units.flatMap((u) => [u.path, u.name]), ...labels])];
}

const GENERIC_LABELS = new Set(
  `
  com org net edu gov ac co uk de fr test example local localhost internal lan www id sso auth login chat
  mail node
`
    .trim()
    .split(/\s+/),
);

/**
 * Throws the field error a form shows at the password when the password is too easy to guess for this
 * person here; `message` is what the form says above it, made from the reason.
 */
export async function refuseWeakPassword(
  ctx: GatewayContext,
  password: string,
  person: Omit<PasswordContext, 'place'>,
  message: (reason: string) => string = (reason) => `The new password is too easy to guess. ${reason}`,
): Promise<void> {
  // Read one by one: a model instance's fields are getters, which spreading it would not copy.
  const { username, displayName, email } = person;
  const reason = weakPasswordReason(password, { username, displayName, email, place: await campusWords(ctx) });
  if (reason) throw new ValidationError(message(reason), { password: reason });
}
