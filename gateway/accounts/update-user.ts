import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { assertMayGrant, assertUnique } from './create-user.ts';
import { endAccessOf, replacePassword } from './end-access.ts';
import { findManageableUser } from './find-user.ts';
import { keepAnAdministrator, refuseOwnAdministration } from './keep-administrators.ts';
import { setMemberships } from './memberships.ts';
import { openSessionsOf } from './open-sessions.ts';
import { hashPassword } from './passwords.ts';
import { refuseChatMove } from './chat-moves.ts';
import { assertCovers } from './scope.ts';
import { passwordSchema, userChangesSchema } from './schemas.ts';
import { assertPasswordIsLocal } from '../directories/local-password.ts';
import { spendOpenResetLinks } from '../recovery/spend-reset-links.ts';

/** What an edit did beyond the fields: when it disabled the person, how many open sessions of theirs ended. */
export type UserEdit = { user: User; disabled: { endedSessions: number } | null };

/**
 * Edits profile, units, roles or status; disabling also ends every session and token of the person, and
 * a new mail address spends the reset links sent to the old one. New units that take the person off a
 * domain they chat on are refused unless `moveChat` confirms it (chat-moves.ts). Nobody takes away their
 * own administration, and the last active administrator stays one (keep-administrators.ts).
 */
export async function editUser(ctx: GatewayContext, idOrUsername: string, input: unknown): Promise<UserEdit> {
  const changes = parseInput(userChangesSchema, input);
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    if (changes.units) assertCovers(ctx.actor, changes.units);
    if (changes.roles) assertMayGrant(ctx, changes.roles);
    const after = { roles: changes.roles ?? user.roles, status: changes.status ?? user.status };
    refuseOwnAdministration(ctx, user, after);
    await keepAnAdministrator(ctx, user, after);
    await assertUnique(ctx, { email: changes.email }, user.id);
    const chatMove = changes.units ? await refuseChatMove(ctx, user, changes.units, changes.moveChat === true) : null;
    const before = { displayName: user.displayName, email: user.email, roles: user.roles, status: user.status };
    if (changes.displayName !== undefined) user.displayName = changes.displayName;
    if (changes.email !== undefined) user.email = changes.email;
    if (changes.roles !== undefined) user.roles = changes.roles;
    const disabling = changes.status === 'disabled' && user.status !== 'disabled';
    if (changes.status !== undefined) user.status = changes.status;
    await user.save({ transaction: ctx.tx });
    // The status is now the administrator's: a directory sync re-enables only whom it disabled itself.
    if (user.status !== before.status) {
      await ctx.models.DirectoryAccount.update(
        { disabledByDirectory: false },
        { where: { userId: user.id, disabledByDirectory: true }, transaction: ctx.tx },
      );
    }
    if (user.email !== before.email) await spendOpenResetLinks(ctx, user.id);
    const disabled = disabling ? { endedSessions: await openSessionsOf(ctx, user.id) } : null;
    if (disabling) await endAccessOf(ctx, user);
    if (changes.units) await setMemberships(ctx, user, changes.units);
    await audit(ctx, {
      action: 'user.update',
      target: user.username,
      details: { before, changes, ...(chatMove && { chatMove }) },
    });
    return { user, disabled };
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
    if (user.status === status) return { user, disabled: null, changed: false };
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
 */
export async function resetPassword(ctx: GatewayContext, idOrUsername: string, password: unknown): Promise<User> {
  const plain = passwordSchema.safeParse(password);
  if (!plain.success) {
    throw new ValidationError('The new password is not acceptable', {
      password: plain.error.issues[0]?.message ?? 'invalid',
    });
  }
  const passwordHash = await hashPassword(plain.data);
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    await assertPasswordIsLocal(ctx, user);
    const { artefacts } = await replacePassword(ctx, user, passwordHash);
    await audit(ctx, { action: 'user.reset_password', target: user.username, details: { endedArtefacts: artefacts } });
    return user;
  });
}
