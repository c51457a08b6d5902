import { z } from 'zod';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { assertMayGrant, assertUnique } from './create-user.ts';
import { endAccessOf, replacePassword } from './end-access.ts';
import { findManageableUser } from './find-user.ts';
import { keepAnAdministrator, refuseOwnAdministration, refuseOwnUnitsDropped } from './keep-administrators.ts';
import { setMemberships } from './memberships.ts';
import { openSessionsOf } from './open-sessions.ts';
import { hashPassword } from './passwords.ts';
import { refuseChatMove } from './chat-moves.ts';
import { assertCovers } from './scope.ts';
import { passwordSchema, userChangesSchema, type UserChanges } from './schemas.ts';
import { refuseWeakPassword } from './weak-passwords.ts';
import { assertPasswordIsLocal } from '../directories/local-password.ts';
import { spendOpenResetLinks } from '../recovery/spend-reset-links.ts';
import { firstPasswordDetail } from '../recovery/notice-mails.ts';

/** The fields of a person an edit changes. */
export type EditedField = 'displayName' | 'email' | 'units' | 'roles' | 'status';
const EDITED_FIELDS: EditedField[] = ['displayName', 'email', 'units', 'roles', 'status'];

/**
 * What an edit did: the fields it changed (none: nothing was written, not even to the audit log), and
 * when it disabled the person, how many open sessions of theirs ended.
 */
export type UserEdit = { user: User; edited: EditedField[]; disabled: { endedSessions: number } | null };

/**
 * The person as a form showed them, for an edit made from it (`expected`): a field the form still
 * says as it showed it is not changed, and one changed there that someone else changed meanwhile too
 * is refused (StaleEditError) rather than undone. Lenient: it is only compared, never stored.
 */
const shownSchema = z
  .object({
    displayName: z.string(),
    email: z.string(),
    units: z.array(z.string()),
    roles: z.array(z.string()),
    status: z.string(),
  })
  .partial();
export type ShownUser = z.infer<typeof shownSchema>;

const userEditSchema = userChangesSchema.extend({ expected: shownSchema.optional() });

/** Someone else changed, since the form was opened, fields this edit changes too: nothing was saved. */
export class StaleEditError extends ConflictError {
  readonly username: string;
  readonly fields: EditedField[];

  constructor(username: string, fields: EditedField[]) {
    super(`${username} was changed since you opened this page`);
    this.username = username;
    this.fields = fields;
  }
}

type Values = Required<ShownUser>;

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Units are the same with the same primary (the first) among the same set; roles as a set; the rest as text. */
function same(field: EditedField, a: unknown, b: unknown): boolean {
  if (field === 'units') {
    const [x, y] = [a as string[], b as string[]];
    return x[0] === y[0] && sameSet(x, y);
  }
  if (field === 'roles') return sameSet(a as string[], b as string[]);
  return a === b;
}

/**
 * The changes an edit makes: what differs from what is stored, less what the form left as it showed it.
 * A field changed in the form that someone else changed since (stored no longer as shown) is a conflict,
 * unless they made it what this edit asks.
 */
function changesToMake(username: string, asked: UserChanges, stored: Values, expected: ShownUser | undefined) {
  const changes: Partial<Pick<UserChanges, EditedField>> = {};
  const conflicts: EditedField[] = [];
  for (const field of EDITED_FIELDS) {
    const value = asked[field];
    const shown = expected?.[field];
    if (value === undefined || (shown !== undefined && same(field, value, shown))) continue;
    if (same(field, value, stored[field])) continue;
    if (shown !== undefined && !same(field, shown, stored[field])) conflicts.push(field);
    else Object.assign(changes, { [field]: value });
  }
  if (conflicts.length > 0) throw new StaleEditError(username, conflicts);
  return changes;
}

/**
 * Edits profile, units, roles or status; disabling also ends every session and token of the person, and
 * a new mail address spends the reset links sent to the old one. New units that take the person off a
 * domain they chat on are refused unless `moveChat` confirms it (chat-moves.ts). Nobody takes away their
 * own administration, and the last active administrator stays one (keep-administrators.ts).
 *
 * Only what differs from what is stored is written; nothing differing writes nothing. With `expected`
 * (the person as the form showed them), only what the form changed is, and a change to a field someone
 * else changed since is refused (changesToMake). Only the columns changed are written, so an edit never
 * puts back a field that another saved meanwhile.
 */
export async function editUser(ctx: GatewayContext, idOrUsername: string, input: unknown): Promise<UserEdit> {
  const { expected, ...asked } = parseInput(userEditSchema, input);
  return inTransaction(ctx, async (ctx) => {
    const { user, memberships } = await findManageableUser(ctx, idOrUsername);
    const before = { displayName: user.displayName, email: user.email, roles: user.roles, status: user.status };
    const units = memberships.map((m) => m.unit.path);
    const changes = changesToMake(user.username, asked, { ...before, units }, expected);
    const edited = Object.keys(changes) as EditedField[];
    if (edited.length === 0) return { user, edited, disabled: null };
    if (changes.units) assertCovers(ctx.actor, changes.units);
    if (changes.roles) assertMayGrant(ctx, changes.roles);
    const after = { roles: changes.roles ?? user.roles, status: changes.status ?? user.status };
    refuseOwnAdministration(ctx, user, after);
    if (changes.units) await refuseOwnUnitsDropped(ctx, user, memberships, changes.units);
    await keepAnAdministrator(ctx, user, after);
    await assertUnique(ctx, { email: changes.email }, user.id);
    const chatMove = changes.units ? await refuseChatMove(ctx, user, changes.units, asked.moveChat === true) : null;
    if (changes.displayName !== undefined) user.displayName = changes.displayName;
    if (changes.email !== undefined) user.email = changes.email;
    if (changes.roles !== undefined) user.roles = changes.roles;
    const disabling = changes.status === 'disabled';
    if (changes.status !== undefined) user.status = changes.status;
    await user.save({ transaction: ctx.tx });
    // The status is now the administrator's: a directory sync re-enables only whom it disabled itself.
    if (changes.status !== undefined) {
      await ctx.models.DirectoryAccount.update(
        { disabledByDirectory: false },
        { where: { userId: user.id, disabledByDirectory: true }, transaction: ctx.tx },
      );
    }
    if (changes.email !== undefined) await spendOpenResetLinks(ctx, user.id);
    const disabled = disabling ? { endedSessions: await openSessionsOf(ctx, user.id) } : null;
    if (disabling) await endAccessOf(ctx, user);
    if (changes.units) await setMemberships(ctx, user, changes.units);
    // Whether new units were confirmed to move their chat is recorded with them.
    const recorded = changes.units && asked.moveChat !== undefined ? { ...changes, moveChat: asked.moveChat } : changes;
    await audit(ctx, {
      action: 'user.update',
      target: user.username,
      // The units left are recorded with those joined, so that a move reads "units: from → to".
      details: {
        before: changes.units ? { ...before, units } : before,
        changes: recorded,
        ...(chatMove && { chatMove }),
      },
    });
    return { user, edited, disabled };
  });
}

/**
 * Disables or enables a person; `changed` is false when they already had that status, and then nothing
 * is written, not even to the audit log (a script may run it again).
 */
export async function setUserStatus(
  ctx: GatewayContext,
  idOrUsername: string,
  status: 'active' | 'disabled',
): Promise<UserEdit & { changed: boolean }> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    if (user.status === status) return { user, edited: [], disabled: null, changed: false };
    return { ...(await editUser(ctx, user.id, { status })), changed: true };
  });
}

/** editUser for callers that need only the person as they now are (the CLI). */
export async function updateUser(ctx: GatewayContext, idOrUsername: string, input: unknown): Promise<User> {
  return (await editUser(ctx, idOrUsername, input)).user;
}

/**
 * Sets a new password and lifts any lockout. Whoever knew the old password may hold a session or a
 * refresh token made with it, so every session and token of the person ends too, and so does every
 * reset link they were mailed (endAccessOf). This is an administrator's reset; a person changes their
 * own password, knowing the current one, on the account page (change-password.ts).
 *
 * Temporary unless the administrator says otherwise (`temporary: false`): a password read out by a helpdesk
 * is known to more than the person, who chooses their own at their next sign-in (choose-password-routes.ts).
 */
export async function resetPassword(
  ctx: GatewayContext,
  idOrUsername: string,
  password: unknown,
  options: { temporary?: boolean } = {},
): Promise<User> {
  const temporary = options.temporary !== false;
  const plain = passwordSchema.safeParse(password);
  if (!plain.success) {
    throw new ValidationError('The new password is not acceptable', {
      password: plain.error.issues[0]?.message ?? 'invalid',
    });
  }
  // Judged before the hash is made, which is made before the transaction so that it stays short.
  const { user: person } = await findManageableUser(ctx, idOrUsername);
  await assertPasswordIsLocal(ctx, person);
  await refuseWeakPassword(ctx, plain.data, person);
  const passwordHash = await hashPassword(plain.data);
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    await assertPasswordIsLocal(ctx, user);
    const first = firstPasswordDetail(user);
    const { artefacts } = await replacePassword(ctx, user, passwordHash, { temporary });
    await audit(ctx, {
      action: 'user.reset_password',
      target: user.username,
      details: { endedArtefacts: artefacts, temporary, ...first },
    });
    return user;
  });
}
