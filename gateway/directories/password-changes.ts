/*
 * A password changed in the directory (by IT after a compromise, or by the person at a Windows logon)
 * ends the person's access here as a password changed here does: whoever knew the old one may hold a
 * session or a refresh token made with it. The directory says when each entry's password last changed
 * (the registration's passwordChangedAttribute: AD's pwdLastSet, OpenLDAP ppolicy's pwdChangedTime); each
 * person's link keeps the last value read, and a later one signs them out everywhere.
 *
 * What a link keeps: null before the attribute was first read for them (people linked before this was
 * read, or since the attribute setting changed), "" when their entry had no value, else the value as
 * read. Reading a value over null only notes it, so the first sync after an upgrade signs nobody out.
 * A value over "" is a change: ppolicy writes pwdChangedTime at an entry's first password change, not
 * when the entry is added, and that change must count. No value over a kept one keeps it (a service
 * account that may no longer read it, a password removed): when it is readable again, only a change
 * counts. A value older than the kept one (a domain controller that has not yet replicated the change)
 * is left alone, so that two servers' answers do not sign the person out at each turn.
 */

/** The longest value a link keeps (its column); a longer value is compared as cut to this length. */
export const PASSWORD_CHANGED_MAX = 255;

/** 100-nanosecond intervals between 1601-01-01 (FILETIME's origin) and 1970-01-01. */
const FILETIME_EPOCH_OFFSET = 116_444_736_000_000_000n;
const TICKS_PER_MS = 10_000n;
/** The latest moment a JavaScript Date holds, in milliseconds. */
const MAX_DATE_MS = 8_640_000_000_000_000n;

/** One value read: a moment (in FILETIME ticks, to order values of either syntax), "must change", or neither. */
type Stamp = { kind: 'at'; ticks: bigint } | { kind: 'must-change' } | { kind: 'other' };

/**
 * Active Directory's pwdLastSet: a FILETIME, 100-nanosecond intervals since 1601-01-01 UTC, in decimal.
 * `must-change` for 0 (an administrator set "must change password at next logon"); null for anything
 * that is not such a number.
 */
export function filetimeToDate(value: string): Date | 'must-change' | null {
  if (!/^\d{1,20}$/.test(value.trim())) return null;
  const ticks = BigInt(value.trim());
  if (ticks === 0n) return 'must-change';
  const ms = (ticks - FILETIME_EPOCH_OFFSET) / TICKS_PER_MS;
  return ms > MAX_DATE_MS || ms < -MAX_DATE_MS ? null : new Date(Number(ms));
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)$/;

/**
 * An LDAP GeneralizedTime (RFC 4517 3.3.13), as OpenLDAP writes pwdChangedTime (`20261204120000Z`):
 * minutes and seconds optional, a fraction of the last unit given, Z or an offset. Null for anything else.
 */
export function generalizedTimeToDate(value: string): Date | null {
  const m = GENERALIZED_TIME.exec(value.trim());
  if (!m) return null;
  const [, year, month, day, hour, minute, second, fraction, zone] = m;
  const fields = [Number(month), Number(day), Number(hour), Number(minute ?? 0), Number(second ?? 0)];
  const [mo, d, h, mi, s] = fields as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || (second && !minute)) return null;
  let ms = Date.UTC(Number(year), mo - 1, d, h, mi, Math.min(s, 59));
  if (new Date(ms).getUTCDate() !== d) return null;
  // The fraction is of the last unit written: seconds, else minutes, else hours.
  const unitMs = second ? 1_000 : minute ? 60_000 : 3_600_000;
  if (fraction) ms += Math.floor(Number(`0.${fraction}`) * unitMs);
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5) || 0)) * 60_000;
  }
  return new Date(ms);
}

function stampOf(value: string): Stamp {
  const asTime = generalizedTimeToDate(value);
  if (asTime) return { kind: 'at', ticks: BigInt(asTime.getTime()) * TICKS_PER_MS + FILETIME_EPOCH_OFFSET };
  if (!/^\d{1,20}$/.test(value.trim())) return { kind: 'other' };
  const ticks = BigInt(value.trim());
  return ticks === 0n ? { kind: 'must-change' } : { kind: 'at', ticks };
}

/**
 * Whether `seen` is a later password change than `kept` (both as read, and different): a "must change at
 * next logon" over a set password, a set password over one, a later moment; values of neither syntax by
 * being different.
 */
function isLater(seen: string, kept: string): boolean {
  const now = stampOf(seen);
  const before = stampOf(kept);
  if (now.kind === 'must-change') return before.kind !== 'must-change';
  if (before.kind === 'must-change') return true;
  if (now.kind === 'at' && before.kind === 'at') return now.ticks > before.ticks;
  return true;
}

/**
 * What reading an entry's value does (`seen`: null when the entry had none) to what the link keeps:
 * what to keep now (undefined: nothing to write), and whether it is a change of password that ends the
 * person's access. See the top of this file.
 */
export function passwordChangeStep(kept: string | null, seen: string | null): { keep?: string; changed: boolean } {
  if (seen === null) return kept === null ? { keep: '', changed: false } : { changed: false };
  if (kept === null) return { keep: seen, changed: false };
  if (seen === kept) return { changed: false };
  if (kept === '' || isLater(seen, kept)) return { keep: seen, changed: true };
  return { changed: false };
}

/** A value as the audit log shows it: the moment it names, or what it says. */
export function describePasswordChange(value: string): string {
  const stamp = stampOf(value);
  if (stamp.kind === 'must-change') return 'must change at the next logon';
  if (stamp.kind === 'other') return value;
  const ms = (stamp.ticks - FILETIME_EPOCH_OFFSET) / TICKS_PER_MS;
  return ms > MAX_DATE_MS || ms < -MAX_DATE_MS ? value : new Date(Number(ms)).toISOString();
}
