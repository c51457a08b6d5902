import { AppError, ConflictError } from '../../core/errors.ts';
import { utcText } from '../../core/utc-text.ts';
import type { Ending } from './ended-at-sign-in.ts';

/**
 * The campus directory did not answer in time, answered something that is not LDAP, or refused the
 * gateway's own service account. Nobody's password was judged, so nobody's lockout counts it; the sign-in
 * page says to come back a little later (503 with Retry-After).
 */
export class DirectoryUnavailableError extends AppError {
  /**
   * `cause` is what the LDAP library or the network said, for IT's logs and the audit log; `problem` says
   * the same to the administrator who set the directory up, in words they can act on (connection.ts).
   * `checked` is what the sign-in needed the directory for: the password typed, or, at a sign-in with a
   * passkey alone, that the account is still in the directory (still-in-directory.ts).
   */
  constructor(directory: string, cause: string, problem: string | null = null, checked = 'your password') {
    const broken = problem?.startsWith(SERVICE_ACCOUNT_REFUSED) ?? false;
    super(
      'directory_unavailable',
      503,
      broken
        ? 'Sign-in through the campus directory is not working right now: the gateway cannot use the directory ' +
            'as it is set up. IT has been told. If it lasts, contact your IT department.'
        : `The campus directory is not answering right now, so ${checked} cannot be checked. Try again in a minute.`,
      {
        directory,
        cause,
        ...(problem ? { problem } : {}),
        // A refused service account stays refused until IT changes the settings: waiting fixes nothing.
        ...(broken ? { broken: true } : { retryAfterSeconds: 60 }),
      },
    );
  }

  /** The directory answers but refuses the gateway's own service account: every directory sign-in fails until IT acts. */
  get broken(): boolean {
    return this.details?.broken === true;
  }

  /** The same failure, told to someone signing in with a passkey, who typed no password. */
  atPasskeySignIn(): DirectoryUnavailableError {
    const problem = this.details?.problem;
    return new DirectoryUnavailableError(
      String(this.details?.directory),
      this.rawCause,
      typeof problem === 'string' ? problem : null,
      'your account',
    );
  }

  /** What went wrong, for the administrator testing or syncing the directory. */
  get problem(): string {
    const problem = this.details?.problem;
    return typeof problem === 'string'
      ? problem
      : `the directory did not answer properly (${String(this.details?.cause)})`;
  }

  /** What the library or the network said, word for word. */
  get rawCause(): string {
    return String(this.details?.cause);
  }
}

/** How connection.ts says the directory refused the service account's bind (a wrong DN or password). */
export const SERVICE_ACCOUNT_REFUSED = 'the directory refused the service account';

/** Another sync of the same directory is running (in this process or another one over the same database). */
export class SyncRunningError extends ConflictError {
  constructor(directory: string, until: Date | null) {
    super(
      `A sync of directory ${directory} is already running${until ? ` (its lease ends at ${utcText(until)} unless renewed)` : ''}; wait for it to finish.`,
    );
  }
}

/**
 * The directory took the password, but its entry cannot become an Atrium person (no email, a username
 * Atrium cannot use, an email someone here has…), as a sync would refuse it. Only someone who knew the
 * password is told, with what their IT department needs to hear; an email or name someone else holds
 * here is not named.
 */
export class UnusableEntryError extends AppError {
  constructor(reason: string) {
    super(
      'directory_entry_unusable',
      403,
      'Your campus directory account cannot be used to sign in here. Please contact your IT department and tell ' +
        `them what Atrium found in your directory entry: ${reason}.`,
    );
  }
}

/**
 * A passkey alone, of someone their directory did not vouch for, without saying for certain that they are
 * gone or disabled there (an entry under their username that is not theirs, several, or their directory no
 * longer registered): refused, and their account left as it is, so not told it is disabled.
 */
export class DirectoryDoesNotVouchError extends AppError {
  constructor() {
    super(
      'directory_does_not_vouch',
      403,
      'Your campus directory does not list this account as it knows it, so it cannot sign you in now. ' +
        'Your account is unchanged: ask your IT administrator to check your directory entry.',
    );
  }
}

/** What the directory says of the account, as a kept administrator is told it. */
const THERE: Record<Ending, string> = {
  'gone from the directory': 'no longer lists this account',
  'disabled in the directory': 'marks this account disabled',
  'expired in the directory': 'says this account expired',
};

/**
 * The directory no longer lists the person, or marks them disabled (or expired), but they are the campus's
 * last active administrator, whom Atrium keeps (keep-last-administrator.ts) rather than leave the console to
 * nobody.
 * Kept is not let in: the directory no longer vouches for them, and the server's command line can always
 * make an administrator. Told only to someone who proved who they are (the password their directory took,
 * or their passkey), with that way in, instead of "disabled", which they are not.
 */
export class KeptAdministratorError extends AppError {
  constructor(said: Ending) {
    super(
      'kept_last_administrator',
      403,
      `Your campus directory ${THERE[said]}, so it cannot sign you in. The account is kept only because it is the ` +
        "campus's last administrator. To get in, someone who runs the Atrium server makes an administrator " +
        'with a password of their own (atrium users add USERNAME --role admin); the next directory sync then ' +
        'ends this account as the directory says.',
    );
  }
}
