import { filetimeToDate, generalizedTimeToDate } from './password-changes.ts';
import type { DirectorySettings } from './schemas.ts';

/*
 * A directory may end an account on a date instead of by a flag: Active Directory's accountExpires (what
 * "Account expires: End of" sets in its console; students' accounts at the end of their studies, staff's at
 * the end of a contract). The directory then refuses the person's password, but nothing tells the sessions,
 * tokens and chat they already hold here: an expired account is disabled here as one the directory marks
 * disabled is (read-entry.ts), and enabled again when the date is moved on.
 */

/** AD's LargeInteger is signed 64-bit: its largest value, which is also accountExpires' "never". */
const LARGEST = 2n ** 63n - 1n;

/**
 * When an Active Directory accountExpires value ends the account: a FILETIME (100-nanosecond intervals since
 * 1601-01-01 UTC, in decimal). `never` for 0 (an end date set, then removed) and 9223372036854775807 (never
 * set); null for anything else that is no such number (a negative one, one beyond 64 bits, not a number).
 */
export function accountExpiresToDate(value: string): Date | 'never' | null {
  const typed = value.trim();
  if (!/^\d{1,19}$/.test(typed)) return null;
  const ticks = BigInt(typed);
  if (ticks > LARGEST) return null;
  if (ticks === 0n || ticks === LARGEST) return 'never';
  const at = filetimeToDate(typed);
  return at instanceof Date ? at : null;
}

/** What an entry's expiry attribute says; `problem` when it has a value that is no time. */
export type Expiry = { expired: boolean; problem: string | null };

const NOT_EXPIRED: Expiry = { expired: false, problem: null };

/**
 * Whether the registration's expiry attribute says the entry's account has ended by `now`: AD's
 * accountExpires is a FILETIME; any other attribute (such as OpenLDAP ppolicy's pwdEndTime) an LDAP
 * GeneralizedTime. No attribute set, or no value: not expired. A value it cannot read leaves the entry not
 * expired (a misread attribute must not disable everyone), with a `problem` the sync report and `directories
 * test` say, as for the disabled flag (disabled-flag.ts).
 */
export function expiryOf(
  values: (name: string) => string[],
  s: Pick<DirectorySettings, 'expiryAttribute'>,
  now = Date.now(),
): Expiry {
  const attribute = s.expiryAttribute;
  const value = attribute ? values(attribute)[0]?.trim() : undefined;
  if (!attribute || value === undefined) return NOT_EXPIRED;
  const filetime = attribute.toLowerCase() === 'accountexpires';
  const at = filetime ? accountExpiresToDate(value) : generalizedTimeToDate(value);
  if (at === 'never') return NOT_EXPIRED;
  if (at) return { expired: at.getTime() <= now, problem: null };
  const expected = filetime
    ? 'a Windows file time (100 ns intervals since 1601; 0 or 9223372036854775807: never)'
    : 'a time (such as 20270131000000Z)';
  return { expired: false, problem: `${attribute} "${value.slice(0, 100)}" is not ${expected}` };
}
