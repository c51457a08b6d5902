import type { Transaction } from 'sequelize';
import type { User } from '../models/index.ts';

/**
 * What signing in keeps on the person for its own use: failed attempts, the lock they set, the last sign-in,
 * when their access last ended. None of it is the person's information, whose last change `updatedAt`
 * dates for the ID token's and userinfo's `updated_at` (OpenID Connect Core, section 5.1).
 */
const SIGN_IN_BOOKKEEPING = new Set(['failedLogins', 'failuresSince', 'lockedUntil', 'lastLoginAt', 'accessEndedAt']);

/**
 * Saves what changed on `user`, moving `updatedAt` only when something besides sign-in bookkeeping did (a
 * person disabled as their access ends is changed, for one).
 */
export async function saveUser(user: User, transaction?: Transaction | null): Promise<void> {
  const changed = user.changed();
  const silent = Array.isArray(changed) && changed.every((field) => SIGN_IN_BOOKKEEPING.has(field));
  await user.save({ transaction, silent });
}

/** For updates and increments of bookkeeping columns alone: they leave `updatedAt` as it was. */
export const BOOKKEEPING_ONLY = { silent: true } as const;
