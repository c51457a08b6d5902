import { AppError } from '../../core/errors.ts';

export type RefusedLinkReason = 'unknown' | 'expired' | 'used' | 'cancelled' | 'account_disabled';

/**
 * What became of a refused link, as its page tells it (reset-tokens.ts finds it): a link used set either a
 * first password or a new one, and a cancelled one may have been cancelled by the use of a newer link mailed
 * after it (`replaced`). A disabled account's link is told as unknown: the link must not tell who is disabled.
 */
export type RefusedLinkStory = 'unknown' | 'expired' | 'used' | 'used_first_password' | 'replaced' | 'cancelled';

/**
 * A refused link's page. `signIn`: a password was chosen with it or with a newer link, so the way on is to
 * sign in. `unchanged`: "Nothing was changed" is said, where it is the news (not after a password was set).
 * None names the account: whoever holds a link may not be its owner.
 */
export type RefusedLinkPage = { heading: string; message: string; signIn?: true; unchanged?: true };

export const REFUSED_LINK_PAGES: Record<RefusedLinkStory, RefusedLinkPage> = {
  unknown: {
    heading: 'This link cannot be used',
    message: 'This password link is not valid. Ask for a new one.',
    unchanged: true,
  },
  expired: {
    heading: 'This link has expired',
    message: 'This password link has expired: links to choose a password work for a limited time. Ask for a new one.',
    unchanged: true,
  },
  used: {
    heading: 'This link was already used to set a new password',
    message:
      'A link works once. Sign in with the password chosen with it; if you still need to change it, ask for a new link.',
    signIn: true,
  },
  used_first_password: {
    heading: 'You already chose your password with this link',
    message: 'A link works once. Sign in with the password you chose; if you have forgotten it, ask for a new link.',
    signIn: true,
  },
  replaced: {
    heading: 'A newer link replaced this one',
    message:
      'A newer link was sent after this one, and a password was chosen with it, so this link no longer works. Sign in with that password; if you still need to change it, ask for a new link.',
    signIn: true,
  },
  cancelled: {
    heading: 'This link was cancelled',
    message:
      'This password link was cancelled: the account changed after it was sent, for example its password or email address. Ask for a new one if you still need it.',
    unchanged: true,
  },
};

/** The story a refusal's reason tells before anything else is looked up. */
export const storyOfReason = (reason: RefusedLinkReason): RefusedLinkStory =>
  reason === 'account_disabled' ? 'unknown' : reason;

/** A reset link that cannot be used (unknown, expired, already used, cancelled, account disabled): nothing changes. */
export class ResetLinkError extends AppError {
  readonly reason: RefusedLinkReason;

  constructor(reason: RefusedLinkReason) {
    super('reset_link_invalid', 410, REFUSED_LINK_PAGES[storyOfReason(reason)].message, { reason });
    this.reason = reason;
  }
}
