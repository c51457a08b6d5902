import { AppError, ValidationError } from '../../core/errors.ts';

/** A wrong, expired or already used code (TOTP or recovery): one message, so none tells which. */
export class InvalidCodeError extends AppError {
  constructor() {
    super(
      'invalid_code',
      401,
      'That code is not valid. Enter the current code from your authenticator app, or an unused recovery code.',
    );
  }
}

/**
 * A wrong code while an authenticator app is being set up: the person has no recovery codes yet, and a
 * code that is refused although typed right most often comes from a phone whose clock is off.
 */
export class InvalidEnrolmentCodeError extends AppError {
  constructor() {
    super(
      'invalid_code',
      401,
      "That code is not right. Enter the six-digit code your authenticator app shows now; if it is refused again, check that the device's clock is set automatically.",
    );
  }
}

/** A wrong code from the new phone while the authenticator app is being replaced (replace-totp.ts). */
export class InvalidReplacementCodeError extends AppError {
  constructor() {
    super(
      'invalid_code',
      401,
      "That code is not right, so your current app stays as it was. Enter the six-digit code the app on your new phone shows now; if it is refused again, check that the phone's clock is set automatically.",
    );
  }
}

export class FactorAlreadyEnrolledError extends AppError {
  constructor() {
    super(
      'factor_already_enrolled',
      409,
      'An authenticator app is already set up for this account. To move it to a new phone, use “Replace the authenticator app” on your Sign-in security page.',
    );
  }
}

/** The authenticator being set up was started elsewhere or too long ago (gateway/factors/totp.ts). */
export class EnrolmentClosedError extends AppError {
  constructor() {
    super(
      'enrolment_closed',
      409,
      'This authenticator setup has expired or was started again elsewhere. Scan the new code, then enter the code your app shows.',
    );
  }
}

/**
 * The replacement of an authenticator app being confirmed is no longer open here: finished or started
 * again in another tab or browser, or left too long (gateway/factors/replace-totp.ts). The code of
 * enrolment_closed, whose meaning it shares.
 */
export class ReplacementClosedError extends AppError {
  constructor() {
    super(
      'enrolment_closed',
      409,
      'This replacement is no longer open: it was finished or started again in another tab or browser, or is more than ten minutes old, so this form changed nothing. If your new phone is not set up yet, start again to get a new code to scan.',
    );
  }
}

/** A sign-in's enrolment (after a password alone) finds that the person has set up a second factor meanwhile. */
export class SecondFactorExistsError extends AppError {
  constructor() {
    super(
      'second_factor_exists',
      409,
      'A second factor has been set up for this account since this sign-in started. Start again to sign in with it.',
    );
  }
}

/** Removing the last passkey of someone who has no password (nor a directory's): it is how they sign in. */
export class LastWayInError extends AppError {
  constructor() {
    super(
      'last_way_in',
      409,
      'This passkey is how you sign in: your account has no password. Add another passkey first, then remove this one.',
    );
  }
}

/** Removing a person's last second factor, where the policy requires one of them. */
export class LastFactorRequiredError extends AppError {
  constructor() {
    super(
      'second_factor_required',
      409,
      'Your campus requires a second factor for your account, and this is your last one. Add a passkey or an authenticator app first, then remove this one.',
    );
  }
}

/** A destructive change asked for without ticking its "I understand" box; `unchanged` says what did not happen. */
export class NotUnderstoodError extends ValidationError {
  constructor(what: string, unchanged = 'Nothing was removed.') {
    super(`Tick “I understand” to ${what}. ${unchanged}`, { understood: 'required' });
  }
}
