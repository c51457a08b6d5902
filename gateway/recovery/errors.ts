import { AppError } from '../../core/errors.ts';

export type RefusedLinkReason = 'unknown' | 'expired' | 'used' | 'account_disabled';

/** A reset link that cannot be used (unknown, expired, already used, account disabled): nothing changes. */
export class ResetLinkError extends AppError {
  readonly reason: RefusedLinkReason;

  constructor(reason: RefusedLinkReason) {
    const message =
      reason === 'expired'
        ? 'This password reset link has expired. Ask for a new one.'
        : reason === 'used'
          ? 'This password reset link has already been used. Ask for a new one if you still need it.'
          : 'This password reset link is not valid. Ask for a new one.';
    super('reset_link_invalid', 410, message, { reason });
    this.reason = reason;
  }
}
