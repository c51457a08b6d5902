import { AppError } from '../../core/errors.ts';

/**
 * What was typed is not six digits once spaces, dashes and dots are dropped: no guess at a code at all, so
 * it is not counted as one (a slip of the keyboard, a code cut short while pasting).
 */
export class TotpCodeNotSixDigitsError extends AppError {
  constructor() {
    super('invalid_code', 401, 'A code from your authenticator app has six digits. Enter all six digits it shows now.');
  }
}

/**
 * A right code that was already accepted in its 30-second step (in another tab a moment ago): still refused,
 * as a replay would be, but it proves the person holds the app, so it is not counted as a wrong code.
 */
export class TotpCodeJustUsedError extends AppError {
  constructor() {
    super(
      'invalid_code',
      401,
      'That code was just used. Wait until your authenticator app shows the next code (a new one every 30 seconds), then enter that.',
    );
  }
}
