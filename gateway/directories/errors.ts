import { AppError, ConflictError } from '../../core/errors.ts';

/**
 * The campus directory did not answer in time, answered something that is not LDAP, or refused the
 * gateway's own service account. Nobody's password was judged, so nobody's lockout counts it; the sign-in
 * page says to come back a little later (503 with Retry-After).
 */
export class DirectoryUnavailableError extends AppError {
  constructor(directory: string, cause: string) {
    super(
      'directory_unavailable',
      503,
      'The campus directory is not answering right now, so your password cannot be checked. Try again in a minute.',
      {
        directory,
        cause,
        retryAfterSeconds: 60,
      },
    );
  }
}

/** Another sync of the same directory is running (in this process or another one over the same database). */
export class SyncRunningError extends ConflictError {
  constructor(directory: string, until: Date | null) {
    super(
      `A sync of directory ${directory} is already running${until ? ` (its lease ends at ${until.toISOString()} unless renewed)` : ''}; wait for it to finish.`,
    );
  }
}
