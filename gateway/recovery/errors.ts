import { AppError } from '../../core/errors.ts';

export type RefusedLinkReason = 'unknown' | 'expired' | 'used' | 'cancelled' | 'account_disabled';

const MESSAGES: Record<RefusedLinkReason, string> = {
  unknown: 'This password reset link is not valid. Ask for a new one.',
  expired: 'This password reset link has expired. Ask for a new one.',
  used: 'This password reset link has already been used. Ask for a new one if you still need it.',
  // Not "used": nobody used it. Cancelled by a change to the account after it was mailed (spend-reset-links.ts).
  cancelled:
    'This password reset link was cancelled: the account changed after it was sent, for example its password or email address. Ask for a new one if you still need it.',
  account_disabled: 'This password reset link is not valid. Ask for a new one.',
};

/** A reset link that cannot be used (unknown, expired, already used, cancelled, account disabled): nothing changes. */
export class ResetLinkError extends AppError {
  readonly reason: RefusedLinkReason;

  constructor(reason: RefusedLinkReason) {
    super('reset_link_invalid', 410, MESSAGES[reason], { reason });
    this.reason = reason;
  }
}
