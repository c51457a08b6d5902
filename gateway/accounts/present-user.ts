import type { GatewayContext } from '../context.ts';
import { directoriesOf, type PersonDirectory } from '../directories/person-directory.ts';
import type { User } from '../models/index.ts';
import { membershipsOf, type UnitMembership } from './memberships.ts';

export type PresentedUser = ReturnType<typeof presentUser>;

/**
 * The one shape of a user that leaves the gateway (admin API, CLI --json, console pages). `directory` is
 * the campus directory they come from, null for a local account.
 */
export function presentUser(
  user: User,
  memberships: UnitMembership[],
  directory: PersonDirectory | null,
  now = new Date(),
) {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    email: user.email,
    status: user.status,
    roles: user.roles,
    units: memberships.map((m) => ({ path: m.unit.path, name: m.unit.name, primary: m.primary })),
    locked: Boolean(user.lockedUntil && user.lockedUntil > now),
    lockedUntil: user.lockedUntil?.toISOString() ?? null,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    directory,
  };
}

/** Several people at once: their units and directories are read for all of them together, not one by one. */
export async function presentUsers(ctx: GatewayContext, users: User[]): Promise<PresentedUser[]> {
  const ids = users.map((u) => u.id);
  const memberships = await membershipsOf(ctx, ids);
  const directories = await directoriesOf(ctx, ids);
  return users.map((u) => presentUser(u, memberships.get(u.id) ?? [], directories.get(u.id) ?? null));
}
