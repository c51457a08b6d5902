import type { RateLimiter } from '../../core/rate-limit.ts';
import type { User } from '../models/index.ts';

/**
 * The browsers a person finished signing in with before, as one browser tells them (its known-device
 * cookie, gateway/http/known-device-cookie.ts): per account, the id this browser was given for it and
 * when. An account's lockout stops guessing from everywhere else, but not its own person at a browser
 * they signed in with: a lock that others' wrong passwords caused would otherwise keep them out at will.
 */
export type KnownDevices = ReadonlyMap<string, { id: string; since: Date }>;

export const NO_KNOWN_DEVICES: KnownDevices = new Map();

/**
 * Where a sign-in of this account from this browser stands: `open` (no lock), `let_through` (the account
 * is locked, this browser is known and has not failed too often itself), `device_locked` (known, but
 * locked by its own failures), or `locked` (an unknown browser, refused as before known devices).
 */
export type LockState = 'open' | 'let_through' | 'device_locked' | 'locked';

/**
 * This browser's key for the account's device lockout; none for a browser not known for it, or known only
 * from before the person's access was last ended (a reset password, a sign-out everywhere, a disabling):
 * whoever signed in then is not trusted to be them now.
 */
function deviceKey(user: User, devices: KnownDevices): string | null {
  const device = devices.get(user.id);
  if (!device) return null;
  if (user.accessEndedAt && device.since <= user.accessEndedAt) return null;
  return `${user.id}:${device.id}`;
}

export async function lockState(
  limiter: RateLimiter | undefined,
  user: User,
  devices: KnownDevices,
): Promise<LockState> {
  if (!user.lockedUntil || user.lockedUntil <= new Date()) return 'open';
  const key = limiter && deviceKey(user, devices);
  if (!key) return 'locked';
  return (await limiter.blocked(key)) ? 'device_locked' : 'let_through';
}

/**
 * A wrong password or code from a known browser counts against that browser as well as the account, so
 * that a browser let through a lock gets no more guesses than the lock allows anyone: the same number
 * within the same minutes.
 */
export async function countDeviceFailure(
  limiter: RateLimiter | undefined,
  user: User,
  devices: KnownDevices,
): Promise<void> {
  const key = limiter && deviceKey(user, devices);
  if (key) await limiter.hit(key);
}

/** What a sign-in let through a lock says in the audit log, beside the person's sign-in. */
export const LET_THROUGH = { lockedAccount: 'known device let through' } as const;
