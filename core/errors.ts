/**
 * The few error classes every transport understands. Each carries a stable `code` (part of the
 * wire contract) and an HTTP status; transports map them once (JSON body, socket frame, page notice).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, status: number, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export type FieldErrors = Record<string, string>;

export class ValidationError extends AppError {
  readonly fields: FieldErrors;

  constructor(message: string, fields: FieldErrors = {}) {
    super('invalid_input', 400, message, { fields });
    this.fields = fields;
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required') {
    super('unauthenticated', 401, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You are not allowed to do that') {
    super('forbidden', 403, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super('not_found', 404, message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', 409, message);
  }
}

/** A limit was reached: the message says which, and when to come back (core/try-again.ts). */
export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number, message: string) {
    super('rate_limited', 429, message, { retryAfterSeconds });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The database is behind the code: a unit refuses to start, and a CLI command to run, until the operator
 * has run `command`. The message names the migrations so that the operator sees what the command will apply.
 */
export class MigrationsPendingError extends AppError {
  readonly pending: string[];

  constructor(what: string, pending: string[], command: string) {
    super(
      'not_migrated',
      503,
      `The ${what} database has ${pending.length} pending migration(s) (${pending.join(', ')}); run "${command}" first`,
    );
    this.pending = pending;
  }
}

/** A database a newer Atrium migrated: this code does not know its schema, so it neither starts nor migrates. */
export class DatabaseNewerError extends AppError {
  readonly unknown: string[];

  constructor(what: string, unknown: string[]) {
    super(
      'database_newer',
      503,
      `The ${what} database was migrated by a newer version of Atrium (${unknown.join(', ')}, which this version does not have): run that version, or restore the backup taken before the upgrade`,
    );
    this.unknown = unknown;
  }
}

/** A bad configuration value: the process must not start. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * What the operator set up keeps the process from working: a service it cannot reach (Redis), a secret
 * that does not open what was sealed with another. Not an AppError: a request that meets one gets the
 * generic 500 and the log says why; the CLI prints the message alone and exits with 1.
 */
export class SetupError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'SetupError';
    this.code = code;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
