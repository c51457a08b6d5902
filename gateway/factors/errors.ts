import { AppError } from '../../core/errors.ts';

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

export class FactorAlreadyEnrolledError extends AppError {
  constructor() {
    super(
      'factor_already_enrolled',
      409,
      'An authenticator app is already set up for this account. Ask an administrator to reset it to set up a new one.',
    );
  }
}

/** Setting up a factor from a session asks for the password again, so a borrowed session cannot do it. */
export class PasswordCheckFailedError extends AppError {
  constructor() {
    super(
      'wrong_password',
      401,
      'Your current password is needed to set up an authenticator app, and the one entered is not right.',
    );
  }
}
