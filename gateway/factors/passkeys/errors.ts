import { AppError } from '../../../core/errors.ts';

/** A passkey answer that did not verify (wrong key, someone else's, a bad signature): one message for all. */
export class PasskeyRefusedError extends AppError {
  constructor() {
    super('passkey_refused', 401, 'That passkey was not accepted. Try again, or sign in another way.');
  }
}

/** The browser's answer is not a WebAuthn response at all (garbage, truncated, wrong shape). */
export class InvalidPasskeyResponseError extends AppError {
  constructor() {
    super(
      'invalid_passkey_response',
      400,
      'The answer from your browser or security key was not understood. Try again.',
    );
  }
}

/** No pending challenge to answer: expired, already answered, or started in another window. */
export class PasskeyChallengeError extends AppError {
  constructor() {
    super('passkey_challenge_expired', 400, 'This passkey request has expired or was already used. Start again.');
  }
}

export class PasskeyAlreadyRegisteredError extends AppError {
  constructor() {
    super('passkey_already_registered', 409, 'This passkey is already registered.');
  }
}

export class PasswordlessOffError extends AppError {
  constructor() {
    super('passwordless_off', 403, 'Signing in with a passkey alone is not enabled here. Sign in with your password.');
  }
}

/** A change to how one signs in waits until the person has shown again that it is them. */
export class ConfirmationNeededError extends AppError {
  constructor() {
    super('confirmation_needed', 403, 'Confirm it is you first (your password, a code or a passkey), then try again.');
  }
}
