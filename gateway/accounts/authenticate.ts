import { Op } from 'sequelize';
import { AppError, RateLimitedError } from '../../core/errors.ts';
import type { RateLimiter } from '../../core/rate-limit.ts';
import { tryAgainIn } from '../../core/try-again.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { verifyPassword } from './passwords.ts';
import { BOOKKEEPING_ONLY, saveUser } from './save-bookkeeping.ts';
import { usernameSchema } from './schemas.ts';
import { userByDirectoryUsername } from '../directories/directory-username.ts';
import type { Ending } from '../directories/ended-at-sign-in.ts';
import { hasSecondFactor } from '../factors/passkeys/second-factor-choices.ts';
import { countDeviceFailure, type KnownDevices, LET_THROUGH, lockState, NO_KNOWN_DEVICES } from './known-devices.ts';
import { TEMPORARY_PASSWORD_DAYS, temporaryPasswordExpired } from './temporary-password.ts';

/** One message for an unknown account and a wrong password, so the form never tells who exists. */
export class InvalidCredentialsError extends AppError {
  constructor() {
    super('invalid_credentials', 401, 'Wrong username or password.');
  }
}

/**
 * Wrong passwords, codes, passkeys and confirmations all count toward one lockout, so its message blames
 * none of them in particular (someone locked out by wrong codes typed the right password): it says that
 * signing in is paused, and how long to wait. The sign-in page adds the way out for a forgotten password.
 */
export class AccountLockedError extends AppError {
  /**
   * `retryAfterSeconds` is the time left of the lockout. A name no account has says the time left of its
   * own lock (unknownName) rather than the whole lockout: a real account's wait going down while a
   * missing one's stayed whole would tell who exists.
   */
  constructor(retryAfterSeconds: number) {
    super(
      'account_locked',
      429,
      `Too many failed attempts (wrong passwords or codes): signing in to this account is paused. ${tryAgainIn(retryAfterSeconds)}`,
      { retryAfterSeconds },
    );
  }

  /** The lockout of an account locked until `lockedUntil`, with the time left of it (at least a second). */
  static until(lockedUntil: Date | null | undefined): AccountLockedError {
    const left = lockedUntil ? Math.ceil((lockedUntil.getTime() - Date.now()) / 1000) : 0;
    return new AccountLockedError(Math.max(1, left));
  }
}

/**
 * The per-address limit: attempts from one network address, whoever's account they name. A correct
 * password is refused too, so the message says it is about the network (a campus NAT, a shared Wi-Fi),
 * not the person's account or password, and when to come back.
 */
export class NetworkRateLimitedError extends RateLimitedError {
  constructor(retryAfterSeconds: number) {
    super(
      retryAfterSeconds,
      `Too many sign-in attempts have come from your network (everyone on it counts, not only you). ${tryAgainIn(retryAfterSeconds)}`,
    );
  }
}

/** A right temporary password past its days (temporary-password.ts): the person asks for a new one. */
export class TemporaryPasswordExpiredError extends AppError {
  constructor() {
    super(
      'temporary_password_expired',
      403,
      `This temporary password has expired: one an administrator sets works for ${TEMPORARY_PASSWORD_DAYS} days. Ask your helpdesk for a new one, or use “Forgot your password?” if it is offered.`,
    );
  }
}

export class AccountDisabledError extends AppError {
  constructor() {
    super('account_disabled', 403, 'This account is disabled. Contact your administrator.');
  }
}

/**
 * Checks the password of a person whose account comes from a campus directory (a bind there), or says
 * null for a local account. Throws when the directory cannot tell (gateway/directories/directory-password.ts).
 */
export type DirectoryPasswordCheck = (ctx: GatewayContext, user: User, password: string) => Promise<boolean | null>;

/**
 * Whether the campus directory a person came from still has them, asked at a sign-in that asks it nothing
 * else (a passkey alone): null while it lists them, not disabled, and for a local account; otherwise what
 * it said, and the sign-in is refused. Throws when the directory cannot answer
 * (gateway/directories/still-in-directory.ts).
 */
export type DirectoryStanding = (ctx: GatewayContext, user: User) => Promise<DirectoryRefusal | null>;

/**
 * A directory's answer that refuses its person: which directory, and what it said of them; `kept` when
 * they are the last active administrator, kept enabled rather than disabled (keep-last-administrator.ts).
 */
export type DirectoryRefusal = { directory: string; said: string } | { directory: string; said: Ending; kept: true };

/**
 * What the campus directories say of a name no account has (gateway/directories/newcomer-sign-in.ts).
 * `person` is someone already here whose entry carries the name (the directory renamed them since the last
 * sync): a wrong password counts against them, and while they are locked no password reaches the directory.
 */
export type NewcomerOutcome =
  /** No directory has exactly one entry with this username, or no password was typed: nothing was bound. */
  | { kind: 'nobody' }
  | { kind: 'wrong_password'; person: User | null }
  | { kind: 'locked'; person: User }
  /** The directory took the password, and the entry is this person, brought in (or up to date) as a sync would. */
  | { kind: 'signed_in'; person: User };

/**
 * Asks the registered directories for an entry with this username, and brings in the person it is once the
 * directory takes the password. Throws when a directory cannot answer now, when the entry is disabled
 * there, or when it cannot become a person (each told only after the right password).
 */
export type DirectoryNewcomer = (ctx: GatewayContext, username: string, password: string) => Promise<NewcomerOutcome>;

/**
 * Asks the directories about a name as directoryNewcomer asks about a name no account has, and forgets the
 * answer; nothing for a person of a directory, whose password was asked there already.
 */
export type DirectoryQuestion = (ctx: GatewayContext, user: User, username: string, password: string) => Promise<void>;

export type LoginPolicy = {
  maxFailures: number;
  lockoutMinutes: number;
  /**
   * Per client address, across all accounts: failed attempts (each attempt is counted while it runs and
   * taken back when its password was right).
   */
  ipLimiter: RateLimiter;
  /** Per typed identifier, so guessing at a name that does not exist locks the same way as a real one. */
  identifierLimiter: RateLimiter;
  /**
   * Per account and browser it was known for (known-devices.ts): its own failures lock it alone. Without
   * it no browser is known, and a locked account refuses every one.
   */
  deviceLimiter?: RateLimiter;
  /** Directory people's passwords; without it every account is local. */
  directoryPassword?: DirectoryPasswordCheck;
  /** Someone new in a directory since its last sync, brought in at their first sign-in; without it, nobody is. */
  directoryNewcomer?: DirectoryNewcomer;
  /** What a local account's refused password asks the directories (askedAsUnknownName). */
  directoryQuestion?: DirectoryQuestion;
  /** At a sign-in with a passkey alone, whether a directory person's directory still has them. */
  directoryStanding?: DirectoryStanding;
};

/**
 * The account a sign-in names: the one whose Atrium username or email was typed, which wins since anyone
 * may hold as theirs a name a directory gives someone else; otherwise the person whose directory now gives
 * them that username (directory-username.ts). `directoryName` says it was the latter.
 */
async function accountNamed(ctx: GatewayContext, id: string): Promise<{ user: User; directoryName: boolean } | null> {
  const user = await ctx.models.User.findOne({ where: { [Op.or]: [{ username: id }, { email: id }] } });
  if (user) return { user, directoryName: false };
  const renamed = await userByDirectoryUsername(ctx, id);
  return renamed && { user: renamed, directoryName: true };
}

type Fail = (error: AppError, reason: string) => Promise<AppError>;

/** Audits a failed sign-in under what was typed, with the account it named when that was not its username. */
const failure =
  (ctx: GatewayContext, id: string, account?: string): Fail =>
  async (error, reason) => {
    const details = account ? { reason, account } : { reason };
    await audit(ctx, { action: 'login', target: id, outcome: 'failure', details });
    return error;
  };

/**
 * What a directory says instead of judging the password (it cannot answer now, the account is disabled
 * there, its entry cannot be used): audited under its code and shown, counting no failure. Anything else
 * is no answer for the person and goes on as it is.
 */
async function failed(error: unknown, fail: Fail): Promise<unknown> {
  if (error instanceof AccountDisabledError) return fail(error, 'disabled');
  if (error instanceof AppError) return fail(error, error.code);
  return error;
}

/**
 * Checks a username-or-email (or the username a directory now gives its person) and password. Failures
 * count toward a lockout of the account; a disabled account is only revealed to someone who knows its
 * password. Every outcome is audited, under what was typed when it failed, with the account it named
 * when that was not its username (an email, a directory username). A locked account still lets in its
 * person at a browser they finished signing in with before (`devices`), unless that browser's own
 * failures locked it too.
 */
export async function authenticate(
  ctx: GatewayContext,
  identifier: string,
  password: string,
  policy: LoginPolicy,
  devices: KnownDevices = NO_KNOWN_DEVICES,
): Promise<User> {
  const id = identifier.trim().toLowerCase().slice(0, 254);
  let fail = failure(ctx, id);

  // Counted now and taken back once the password proves right (RateLimiter.release): the address's
  // allowance is of failures, so a campus behind one NAT address is not stopped by its own sign-ins.
  const byIp = await policy.ipLimiter.hit(addressKey(ctx));
  if (!byIp.allowed) throw await fail(new NetworkRateLimitedError(byIp.retryAfterSeconds), 'ip_rate_limited');

  const found = id ? await accountNamed(ctx, id) : null;
  if (!found) return unknownName(ctx, id, password, policy);
  // From here on it is as if they had typed their Atrium username: same lockout, bind and checks.
  const { user, directoryName } = found;
  // Typed as an email or a directory name: the account is named too, for the person's account history.
  if (id !== user.username) fail = failure(ctx, id, user.username);
  const lock = await lockState(policy.deviceLimiter, user, devices);
  if (lock === 'locked' || lock === 'device_locked') throw await fail(AccountLockedError.until(user.lockedUntil), lock);

  // Only now, past the address limit and the lockout, may a password reach a directory. A directory that
  // cannot answer judged nothing: its error is shown and audited, and no failure is counted.
  let right: boolean;
  try {
    right = await passwordIsTheirs(ctx, user, password, policy);
  } catch (error) {
    throw await failed(error, fail);
  }
  if (!right) {
    await askedAsUnknownName(ctx, user, id, password, policy);
    await countFailure(ctx, user, policy);
    await countDeviceFailure(policy.deviceLimiter, user, devices);
    throw await fail(new InvalidCredentialsError(), 'wrong_password');
  }
  await policy.ipLimiter.release(addressKey(ctx));
  return signedIn(ctx, user, directoryName ? id : null, fail, lock === 'let_through');
}

/** The key of the per-address allowance of failed sign-ins (LoginPolicy.ipLimiter). */
export const addressKey = (ctx: Pick<GatewayContext, 'ip'>): string => `ip:${ctx.ip ?? 'unknown'}`;

/**
 * A local account's wrong password takes as long as a name no account has: that name is asked of the
 * directories (unknownName), a round trip to each, or the whole timeout while one does not answer, which
 * a wrong password here would otherwise not wait for, and the time of the answer would tell whose the
 * name is. The same names are asked about: usernames, never emails.
 */
async function askedAsUnknownName(ctx: GatewayContext, user: User, id: string, password: string, policy: LoginPolicy) {
  if (!policy.directoryNewcomer || !policy.directoryQuestion || !usernameSchema.safeParse(id).success) return;
  await policy.directoryQuestion(ctx, user, id, password);
}

/**
 * Whether the password is the person's: by a bind at their directory, or against their own hash (none for
 * someone without a local password). A refusal costs one argon2id verification either way, as a name no
 * account has does (unknownName): a directory that refuses without a bind (an empty password, an entry it
 * no longer has), or a bind quicker than a hash, would otherwise tell by the time of the answer that the
 * name is someone's.
 */
export async function passwordIsTheirs(ctx: GatewayContext, user: User, password: string, policy: LoginPolicy) {
  const byDirectory = await policy.directoryPassword?.(ctx, user, password);
  if (byDirectory === undefined || byDirectory === null) return verifyPassword(user.passwordHash, password);
  if (!byDirectory) await verifyPassword(null, password);
  return byDirectory;
}

/**
 * A name no account has. Past the same limits, the directories may know it: someone new there since the
 * last sync signs in at once, brought in as a sync would bring them (LoginPolicy.directoryNewcomer). Only
 * a username form is asked for, never an email. Otherwise it is refused as an unknown name, which costs a
 * password hash as a real account's wrong password does, and counts against the name.
 */
async function unknownName(ctx: GatewayContext, id: string, password: string, policy: LoginPolicy): Promise<User> {
  const fail = failure(ctx, id);
  if (await policy.identifierLimiter.blocked(id)) {
    // The time left of the name's window, as a real account's lock says its own: another hit past the
    // allowance moves neither the window nor the lock.
    const { retryAfterSeconds } = await policy.identifierLimiter.hit(id);
    throw await fail(new AccountLockedError(retryAfterSeconds), 'locked');
  }
  let outcome: NewcomerOutcome = { kind: 'nobody' };
  if (policy.directoryNewcomer && usernameSchema.safeParse(id).success) {
    try {
      outcome = await policy.directoryNewcomer(ctx, id, password);
    } catch (error) {
      // A refused newcomer (disabled there, an entry that cannot be used) costs the directory binds and
      // group reads each time: counted against the name like a wrong password, so it cannot be repeated
      // without end. A directory that could not answer judged nothing.
      if (error instanceof AppError && error.status === 403) await policy.identifierLimiter.hit(id);
      throw await failed(error, fail);
    }
  }
  const person = outcome.kind === 'nobody' ? null : outcome.person;
  // Someone already here whose entry now carries the name: as if they had typed their Atrium username.
  const as = person && person.username !== id ? failure(ctx, id, person.username) : fail;
  if (outcome.kind === 'signed_in') {
    await policy.ipLimiter.release(addressKey(ctx));
    return signedIn(ctx, outcome.person, as === fail ? null : id, as);
  }
  if (outcome.kind === 'locked') throw await as(AccountLockedError.until(outcome.person.lockedUntil), 'locked');
  // Refused: nobody has the name, or their directory did not take the password (which a bind told, quicker
  // than a hash). Either costs what a wrong password for an account here costs, so neither tells who exists.
  await verifyPassword(null, password);
  if (outcome.kind === 'wrong_password' && outcome.person) {
    await countFailure(ctx, outcome.person, policy);
    throw await as(new InvalidCredentialsError(), 'wrong_password');
  }
  await policy.identifierLimiter.hit(id);
  throw await fail(new InvalidCredentialsError(), outcome.kind === 'nobody' ? 'unknown_account' : 'wrong_password');
}

/**
 * The password was right. A disabled account is refused now, so only someone who knew its password learns
 * it is; otherwise the sign-in is recorded, under the directory username typed when it was one.
 * `letThrough`: the account is locked and a known browser was let through; the lock and its count stay,
 * for every other browser.
 */
async function signedIn(
  ctx: GatewayContext,
  user: User,
  directoryUsername: string | null,
  fail: Fail,
  letThrough = false,
): Promise<User> {
  if (user.status !== 'active') throw await fail(new AccountDisabledError(), 'disabled');
  // Counts no failure: the password was right, only too old. Told only to whoever typed it.
  if (temporaryPasswordExpired(user)) throw await fail(new TemporaryPasswordExpiredError(), 'temporary_expired');

  if (!letThrough) {
    // With a second factor the sign-in is not over yet: the count is cleared only after the code
    // (factors/second-step.ts), or a known password would wipe out the wrong codes before it.
    if (!(await hasSecondFactor(ctx, user.id))) user.failedLogins = 0;
    user.lockedUntil = null;
  }
  user.lastLoginAt = new Date();
  await saveUser(user);
  const details = { ...(directoryUsername ? { directoryUsername } : {}), ...(letThrough ? LET_THROUGH : {}) };
  await audit(
    { ...ctx, actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] } },
    { action: 'login', target: user.username, details: Object.keys(details).length > 0 ? details : undefined },
  );
  return user;
}

/**
 * One failed attempt against the account (a wrong password, or a wrong second-factor code): enough of
 * them within the lockout's minutes lock it for a while. Returns whether this attempt locked it.
 *
 * Older failures no longer count, as the attempts at a name that does not exist stop counting when their
 * window ends (identifierLimiter): counted for ever, a real account's slow failures would lock it where
 * an unknown name's never lock, telling who exists, and a typo a week would lock a person in a month.
 */
export async function countFailure(ctx: GatewayContext, user: User, policy: LoginPolicy): Promise<boolean> {
  const { User } = ctx.models;
  const now = new Date();
  const windowStart = new Date(now.getTime() - policy.lockoutMinutes * 60_000);
  // Counted by the database, never from a value read before: a conditional UPDATE starts a new window if
  // the last one ended, otherwise an increment adds one; each is atomic, so failures counted at once by
  // several requests or processes are all counted.
  const fresh = {
    [Op.or]: [{ failuresSince: null }, { failuresSince: { [Op.lt]: windowStart } }, { failedLogins: 0 }],
  };
  const [restarted] = await User.update(
    { failedLogins: 1, failuresSince: now },
    { where: { id: user.id, ...fresh }, ...BOOKKEEPING_ONLY },
  );
  if (restarted === 0) await User.increment('failedLogins', { by: 1, where: { id: user.id }, ...BOOKKEEPING_ONLY });
  await user.reload();
  if (user.failedLogins < policy.maxFailures) return false;
  user.lockedUntil = new Date(Date.now() + policy.lockoutMinutes * 60_000);
  user.failedLogins = 0;
  await saveUser(user);
  await audit(ctx, {
    action: 'account.locked',
    target: user.username,
    outcome: 'success',
    details: { until: user.lockedUntil.toISOString() },
  });
  return true;
}
