import type { User } from '../models/index.ts';
import type { UnitMembership } from './memberships.ts';

export type PresentedUser = ReturnType<typeof presentUser>;

/** The one shape of a user that leaves the gateway (admin API, CLI --json, console pages). */
export function presentUser(user: User, memberships: UnitMembership[], now = new Date()) {
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
  };
}
