import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import { directoriesOf, type PersonDirectory } from '../directories/person-directory.ts';
import { passwordlessAllowed } from '../factors/passkeys/passwordless-policy.ts';
import type { User } from '../models/index.ts';
import { membershipsOf, type UnitMembership } from './memberships.ts';
import { temporaryPasswordExpired } from './temporary-password.ts';

export type PresentedUser = ReturnType<typeof presentUser>;

/**
 * What stands behind the person's sign-in, apart from `status`: `set` (an Atrium password), `directory`
 * (the directory checks it), `passkey-only` (no password, but a passkey and passwordless sign-in is on),
 * `none` (no password yet: the account cannot sign in until one is given).
 */
export type PasswordStatus = 'set' | 'directory' | 'passkey-only' | 'none';

/**
 * The one shape of a user that leaves the gateway (admin API, CLI --json, console pages). `directory` is
 * the campus directory they come from, null for a local account. `passkeySignIn` says whether they may
 * sign in with a passkey alone (they have one and the policy allows it); presentUsers works it out.
 */
export function presentUser(
  user: User,
  memberships: UnitMembership[],
  directory: PersonDirectory | null,
  passkeySignIn = false,
  now = new Date(),
) {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    email: user.email,
    status: user.status,
    passwordStatus: passwordStatusOf(user, directory, passkeySignIn),
    /** An administrator's password, which the person replaces with their own at their next sign-in. */
    passwordTemporary: directory === null && user.passwordHash !== null && user.mustChangePassword === true,
    /** Until when that temporary password signs in (then the person needs a new one); null for any other. */
    passwordTemporaryUntil:
      directory === null && user.mustChangePassword === true
        ? (user.temporaryPasswordUntil?.toISOString() ?? null)
        : null,
    passwordTemporaryExpired:
      directory === null && user.mustChangePassword === true && temporaryPasswordExpired(user, now.getTime()),
    roles: user.roles,
    units: memberships.map((m) => ({ path: m.unit.path, name: m.unit.name, primary: m.primary })),
    locked: Boolean(user.lockedUntil && user.lockedUntil > now),
    lockedUntil: user.lockedUntil?.toISOString() ?? null,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    directory,
  };
}

function passwordStatusOf(user: User, directory: PersonDirectory | null, passkeySignIn: boolean): PasswordStatus {
  if (directory) return 'directory';
  if (user.passwordHash !== null) return 'set';
  return passkeySignIn ? 'passkey-only' : 'none';
}

/** Several people at once: their units and directories are read for all of them together, not one by one. */
export async function presentUsers(ctx: GatewayContext, users: User[]): Promise<PresentedUser[]> {
  const ids = users.map((u) => u.id);
  const memberships = await membershipsOf(ctx, ids);
  const directories = await directoriesOf(ctx, ids);
  const passkeyOnly = await passkeySignInsOf(
    ctx,
    users.filter((u) => u.passwordHash === null && !directories.has(u.id)).map((u) => u.id),
  );
  return users.map((u) =>
    presentUser(u, memberships.get(u.id) ?? [], directories.get(u.id) ?? null, passkeyOnly.has(u.id)),
  );
}

/**
 * Which of these people may sign in with a passkey alone. Asked only about those without a password, so a
 * page of people who all have one costs no query, and the policy is read only when one of them has a passkey.
 */
async function passkeySignInsOf(ctx: GatewayContext, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const passkeys = await ctx.models.Passkey.findAll({
    attributes: ['userId'],
    where: { userId: { [Op.in]: userIds } },
    transaction: ctx.tx,
  });
  if (passkeys.length === 0 || !(await passwordlessAllowed(ctx))) return new Set();
  return new Set(passkeys.map((p) => p.userId));
}
