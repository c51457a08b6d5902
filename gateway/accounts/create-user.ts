import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import { ConflictError, ForbiddenError, ValidationError, type FieldErrors } from '../../core/errors.ts';
import { fieldErrorsOf } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Role, User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { setMemberships } from './memberships.ts';
import { hashPassword } from './passwords.ts';
import { addressNameProblem } from './reserved-names.ts';
import { assertCovers, isFullAdmin } from './scope.ts';
import { unitsByPaths } from './units.ts';
import { newUserSchema, passwordSchema, type NewUser } from './schemas.ts';
import { campusWords, weakPasswordReason } from './weak-passwords.ts';
import { temporaryPasswordUntil } from './temporary-password.ts';

export function assertMayGrant(ctx: GatewayContext, roles: Role[]): void {
  if (roles.includes('admin') && !isFullAdmin(ctx.actor))
    throw new ForbiddenError('Only campus administrators may grant the admin role');
}

export async function assertUnique(
  ctx: GatewayContext,
  fields: { username?: string; email?: string },
  exceptId?: string,
) {
  // On a chat node an app's bot is slug@domain: a person of the same name would speak as the bot (or, for
  // a deleted app, read what its bot was sent). Reserved names are refused by the schema already.
  if (fields.username) {
    const problem = await addressNameProblem(ctx, fields.username);
    if (problem?.kind === 'app') throw new ConflictError(`Username ${fields.username} is taken by an app`);
    if (problem?.kind === 'deleted-app')
      throw new ConflictError(`Username ${fields.username} was a deleted app's bot address; its conversations remain`);
    if (problem?.kind === 'deleted-person') throw new ConflictError(problem.reason);
    if (problem?.kind === 'reserved')
      throw new ValidationError('Some fields are invalid', { username: problem.reason });
  }
  const or = [];
  if (fields.username) or.push({ username: fields.username });
  if (fields.email) or.push({ email: fields.email });
  if (or.length === 0) return;
  const clash = await ctx.models.User.findOne({
    where: { [Op.or]: or, ...(exceptId ? { id: { [Op.ne]: exceptId } } : {}) },
    transaction: ctx.tx,
  });
  if (!clash) return;
  if (fields.username && clash.username === fields.username)
    throw new ConflictError(`Username ${fields.username} is taken`);
  throw new ConflictError(`Email ${fields.email} is already used by another account`);
}

/**
 * Creates an account (argon2id password hash, memberships) after checking the actor may manage its units.
 * A password too easy to guess for the person is refused at its field (weak-passwords.ts).
 *
 * With `temporary`, the password given is one the person replaces at their first sign-in: the console and
 * `atrium users add` ask for that unless the administrator says the person chose it (a password told to
 * them by someone is known to more than them). Left out, it is theirs to keep (the demo's seed, scripts).
 */
export async function createUser(
  ctx: GatewayContext,
  input: unknown,
  options: { temporary?: boolean } = {},
): Promise<User> {
  const parsed = newUserSchema.safeParse(input);
  const weak = await weakPasswordOf(ctx, input);
  if (!parsed.success || weak) {
    const fields = parsed.success ? {} : fieldErrorsOf(parsed.error);
    if (weak && !fields.password) fields.password = weak;
    await addClashes(ctx, input, fields);
    throw new ValidationError('Some fields are invalid', fields);
  }
  const data = parsed.data;
  const passwordHash = data.password ? hashPassword(data.password) : null;
  const temporary = passwordHash !== null && options.temporary === true;
  return inTransaction(ctx, (ctx) => insertUser(ctx, data, passwordHash, { temporary }));
}

/** Why the password given for a new person is too easy to guess for them; null without one or if not. */
async function weakPasswordOf(ctx: GatewayContext, input: unknown): Promise<string | null> {
  const given = (input ?? {}) as Record<string, unknown>;
  const password = passwordSchema.safeParse(given.password);
  if (!password.success) return null;
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return weakPasswordReason(password.data, {
    username: text(given.username),
    displayName: text(given.displayName),
    email: text(given.email),
    place: await campusWords(ctx),
  });
}

/**
 * A form with a bad field also hears that its (valid) username or email is taken, or that a unit does
 * not exist, rather than only after the bad field is fixed.
 */
async function addClashes(ctx: GatewayContext, input: unknown, fields: FieldErrors): Promise<void> {
  const { shape } = newUserSchema;
  const given = (input ?? {}) as Record<string, unknown>;
  const units = shape.units.safeParse(given.units);
  if (units.success && !fields.units) {
    await unitsByPaths(ctx, units.data).catch((error: unknown) => {
      if (!(error instanceof ValidationError)) throw error;
      fields.units = error.fields.units ?? error.message;
    });
  }
  for (const field of ['username', 'email'] as const) {
    const value = shape[field].safeParse(given[field]);
    if (fields[field] || !value.success) continue;
    try {
      await assertUnique(ctx, { [field]: value.data });
    } catch (error) {
      if (!(error instanceof ConflictError || error instanceof ValidationError)) throw error;
      fields[field] = error instanceof ValidationError ? (error.fields[field] ?? error.message) : error.message;
    }
  }
}

/**
 * The write half of createUser, for callers that validated and hashed ahead (the CSV import). With
 * `temporary`, the password given is to be replaced at the first sign-in (users.must_change_password).
 */
export async function insertUser(
  ctx: GatewayContext,
  data: NewUser,
  passwordHash: Promise<string> | string | null,
  options: { temporary?: boolean } = {},
): Promise<User> {
  assertCovers(ctx.actor, data.units);
  assertMayGrant(ctx, data.roles);
  await assertUnique(ctx, data);
  const user = await ctx.models.User.create(
    {
      id: randomUUID(),
      username: data.username,
      displayName: data.displayName,
      email: data.email,
      passwordHash: await passwordHash,
      mustChangePassword: options.temporary === true,
      temporaryPasswordUntil: temporaryPasswordUntil(options.temporary === true),
      roles: data.roles,
      lockedUntil: null,
      lastLoginAt: null,
    },
    { transaction: ctx.tx },
  );
  await setMemberships(ctx, user, data.units);
  const temporary = options.temporary === true ? { temporaryPassword: true } : {};
  await audit(ctx, {
    action: 'user.create',
    target: user.username,
    details: { units: data.units, roles: data.roles, ...temporary },
  });
  return user;
}
