import type { DirectorySettings } from './schemas.ts';

/**
 * How a directory's attribute says an account is disabled:
 * - `flags`: a number whose bit 2 is set (Active Directory's `userAccountControl`, ACCOUNTDISABLE);
 * - `boolean`: `TRUE` (389 Directory Server's, Oracle's and FreeIPA's `nsAccountLock`);
 * - `lock`: OpenLDAP's ppolicy lock (`pwdAccountLockedTime`), read by lockedByPolicy.
 */
export type DisabledKind = 'flags' | 'boolean' | 'lock';

/** The kinds of the attributes directories keep it in, by lowercase name. Any other attribute's value says its kind by its form. */
const KNOWN: Record<string, DisabledKind> = {
  useraccountcontrol: 'flags',
  nsaccountlock: 'boolean',
  pwdaccountlockedtime: 'lock',
};

/** userAccountControl's ACCOUNTDISABLE flag. */
export const AD_ACCOUNT_DISABLED = 0x2;

/** ppolicy's lock "until an administrator unlocks it" (slapo-ppolicy(5)). */
export const LOCKED_FOR_GOOD = '000001010000Z';

/** The kind of a disabled attribute; null for one whose values each say theirs (a number, TRUE or FALSE, a time). */
export const disabledKindOf = (attribute: string): DisabledKind | null => KNOWN[attribute.toLowerCase()] ?? null;

/** What an entry's disabled attribute says; `problem` when it has a value that says neither. */
export type DisabledFlag = { disabled: boolean; problem: string | null };

const WHOLE_NUMBER = /^[+-]?\d{1,15}$/;
const BOOLEAN = /^(true|false)$/i;
/** LDAP's GeneralizedTime (RFC 4517): YYYYMMDDHH[MM[SS]][.fraction], then Z or an offset. */
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(?:(\d{2})(\d{2})?)?(?:[.,]\d+)?(Z|[+-]\d{2}(?:\d{2})?)$/;

/** A GeneralizedTime in milliseconds since 1970; null when it is none. */
export function generalizedTime(value: string): number | null {
  const m = GENERALIZED_TIME.exec(value);
  if (!m) return null;
  const [, year, month, day, hour, minute = '0', second = '0', zone] = m;
  const utc = Date.UTC(+year!, +month! - 1, +day!, +hour!, +minute, +second);
  const date = new Date(utc);
  // Date.UTC rolls 31 February into March: a day or an hour out of range is no time.
  if (date.getUTCMonth() !== +month! - 1 || date.getUTCDate() !== +day! || date.getUTCHours() !== +hour!) return null;
  if (zone === 'Z') return utc;
  const sign = zone!.startsWith('-') ? -1 : 1;
  const offset = (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(3, 5) || 0)) * 60_000;
  return utc - sign * offset;
}

/**
 * Whether a ppolicy lock time disables the account whatever the directory's policy says: the lock for good
 * (000001010000Z, what an administrator sets), or a time still to come. A time past is when wrong passwords
 * locked it (slapd writes the time of the failure that did): that lock ends by itself after the policy's
 * pwdLockoutDuration, which the entry does not show, and anyone typing wrong passwords anywhere the
 * directory is asked (a phone with an old Wi-Fi password) sets one. It must not end the person's sessions
 * and chat here, and it cannot let anyone in: the directory refuses their password while it lasts.
 */
function lockedByPolicy(value: string, now: number): boolean | null {
  if (value.toUpperCase() === LOCKED_FOR_GOOD) return true;
  const at = generalizedTime(value);
  return at === null ? null : at > now;
}

function readAs(kind: DisabledKind | null, value: string, now: number): boolean | null {
  const as = kind ?? (WHOLE_NUMBER.test(value) ? 'flags' : BOOLEAN.test(value) ? 'boolean' : 'lock');
  if (as === 'flags') return WHOLE_NUMBER.test(value) ? (Number(value) & AD_ACCOUNT_DISABLED) !== 0 : null;
  if (as === 'boolean') return BOOLEAN.test(value) ? value.toLowerCase() === 'true' : null;
  return lockedByPolicy(value, now);
}

const EXPECTED: Record<DisabledKind | 'any', string> = {
  flags: 'a number (bit 2 set: disabled)',
  boolean: 'TRUE or FALSE',
  lock: `a time (${LOCKED_FOR_GOOD}: locked for good)`,
  any: 'a number (bit 2 set: disabled), TRUE or FALSE, or a time',
};

/**
 * Whether the registration's disabled attribute marks the entry disabled. No attribute set, or no value:
 * not disabled. A value it cannot read leaves the entry not disabled too (a misread attribute must not
 * disable everyone), with a `problem` the sync report and `directories test` say.
 */
export function disabledOf(
  values: (name: string) => string[],
  s: Pick<DirectorySettings, 'disabledAttribute'>,
  now = Date.now(),
): DisabledFlag {
  const attribute = s.disabledAttribute;
  const value = attribute ? values(attribute)[0]?.trim() : undefined;
  if (!attribute || value === undefined) return { disabled: false, problem: null };
  const kind = disabledKindOf(attribute);
  const disabled = readAs(kind, value, now);
  if (disabled !== null) return { disabled, problem: null };
  return {
    disabled: false,
    problem: `${attribute} "${value.slice(0, 100)}" is not ${EXPECTED[kind ?? 'any']}`,
  };
}
