import type { Actor } from '../context.ts';
import { ROLES, type Role } from '../models/index.ts';
import { isFullAdmin } from './scope.ts';

/** The roles an actor may hand out (the same rule assertMayGrant enforces), for forms to offer. */
export function grantableRoles(actor: Actor): Role[] {
  return isFullAdmin(actor) ? [...ROLES] : ROLES.filter((role) => role !== 'admin');
}
