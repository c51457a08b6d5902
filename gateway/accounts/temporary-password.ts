import type { User } from '../models/index.ts';

/**
 * How long a temporary password signs in after an administrator set it: long enough for a term's imported
 * people to reach their first sign-in, short enough that a password others saw (a helpdesk, a printed
 * sheet) does not stay a way in for good when its person signs in with a passkey and never replaces it.
 */
export const TEMPORARY_PASSWORD_DAYS = 14;

/** Until when a temporary password set now signs in; null for a password the person keeps. */
export const temporaryPasswordUntil = (temporary: boolean, now = Date.now()): Date | null =>
  temporary ? new Date(now + TEMPORARY_PASSWORD_DAYS * 24 * 60 * 60_000) : null;

/** Whether the person's temporary password has run out (TEMPORARY_PASSWORD_DAYS): it signs in no more. */
export const temporaryPasswordExpired = (user: User, now = Date.now()): boolean =>
  user.mustChangePassword === true &&
  user.temporaryPasswordUntil !== null &&
  user.temporaryPasswordUntil !== undefined &&
  user.temporaryPasswordUntil.getTime() <= now;
