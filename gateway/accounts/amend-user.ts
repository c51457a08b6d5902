import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import { directoriesOf } from '../directories/person-directory.ts';
import type { Role, User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from './find-user.ts';
import { displayNameSchema, emailSchema, roleSchema, unitPathSchema } from './schemas.ts';
import { editUser } from './update-user.ts';

/**
 * Changes to a person as an operator types them (`atrium users update`): whole new units or roles, or
 * some added and removed, and a primary unit among them. What is left out stays as it is.
 */
const amendmentSchema = z
  .object({
    displayName: displayNameSchema.optional(),
    email: emailSchema.optional(),
    units: z.array(unitPathSchema).min(1, { message: 'at least one unit' }).optional(),
    addUnits: z.array(unitPathSchema).default([]),
    removeUnits: z.array(unitPathSchema).default([]),
    primaryUnit: unitPathSchema.optional(),
    roles: z.array(roleSchema).min(1, { message: 'at least one role' }).optional(),
    addRoles: z.array(roleSchema).default([]),
    removeRoles: z.array(roleSchema).default([]),
    /** Confirms new units that take the person off a domain they chat on (chat-moves.ts). */
    moveChat: z.boolean().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.units && a.addUnits.length + a.removeUnits.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['units'],
        message: 'give all the units, or units to add and remove, not both',
      });
    if (a.roles && a.addRoles.length + a.removeRoles.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['roles'],
        message: 'give all the roles, or roles to add and remove, not both',
      });
  });
type Amendment = z.infer<typeof amendmentSchema>;

/** Fields of the person an amendment changed, as editUser names them. */
export type AmendedField = 'displayName' | 'email' | 'units' | 'roles';

export type UserAmendment = {
  user: User;
  /** What differs from before; empty when everything given was so already, and then nothing was written. */
  changed: AmendedField[];
  /** A primary unit removed, and the unit that took its place (the first one left), as the console says it. */
  primaryTaken: { dropped: string; now: string } | null;
  /** The campus directory the person comes from, whose next sync puts back what it says of them. */
  directory: string | null;
};

const unique = <T>(items: T[]): T[] => [...new Set(items)];

/** The units after the amendment, the primary first; `stored` is the person's now, the primary first. */
function unitsAfter(username: string, stored: string[], a: Amendment) {
  const asked = a.units || a.addUnits.length + a.removeUnits.length > 0 || a.primaryUnit !== undefined;
  if (!asked) return { paths: stored, primaryTaken: null };
  let paths = unique(a.units ?? []);
  if (!a.units) {
    const notTheirs = a.removeUnits.filter((path) => !stored.includes(path));
    if (notTheirs.length > 0)
      throw new ValidationError(`${username} is not in ${notTheirs.join(', ')}; nothing was changed`, {
        removeUnits: `not one of their units (${stored.join(', ')}): ${notTheirs.join(', ')}`,
      });
    paths = unique([...stored, ...a.addUnits]).filter((path) => !a.removeUnits.includes(path));
    if (paths.length === 0)
      throw new ValidationError(`That would leave ${username} in no unit; nothing was changed`, {
        removeUnits: 'would leave them in no unit: add another',
      });
  }
  if (a.primaryUnit !== undefined) {
    const primary = a.primaryUnit;
    if (!paths.includes(primary))
      throw new ValidationError(
        `The primary unit ${primary} is not one of ${username}'s units (${paths.join(', ')}); nothing was changed`,
        { primaryUnit: `not one of their units: add ${primary} as well to make it their primary unit` },
      );
    paths = [primary, ...paths.filter((path) => path !== primary)];
  }
  const dropped = !a.units && stored[0] !== undefined && !paths.includes(stored[0]) ? stored[0] : null;
  return { paths, primaryTaken: dropped ? { dropped, now: paths[0]! } : null };
}

function rolesAfter(username: string, stored: Role[], a: Amendment): Role[] {
  if (a.roles) return unique(a.roles);
  if (a.addRoles.length + a.removeRoles.length === 0) return stored;
  const notTheirs = a.removeRoles.filter((role) => !stored.includes(role));
  if (notTheirs.length > 0)
    throw new ValidationError(`${username} does not have the role ${notTheirs.join(', ')}; nothing was changed`, {
      removeRoles: `not one of their roles (${stored.join(', ')}): ${notTheirs.join(', ')}`,
    });
  const roles = unique([...stored, ...a.addRoles]).filter((role) => !a.removeRoles.includes(role));
  if (roles.length === 0)
    throw new ValidationError(`That would leave ${username} without a role; nothing was changed`, {
      removeRoles: 'would leave them without a role: add another',
    });
  return roles;
}

const sameUnits = (a: string[], b: string[]) =>
  a[0] === b[0] && a.length === b.length && a.every((path) => b.includes(path));
const sameRoles = (a: Role[], b: Role[]) => a.length === b.length && a.every((role) => b.includes(role));

/**
 * Changes what is given of a person and leaves the rest, through editUser, so the rules, the audit and
 * the ended access are those of the console's form. Nothing differing from what is stored writes nothing
 * (a script may run it again). New units that take the person off a domain they chat on are refused
 * unless `moveChat` confirms it (ChatMoveError).
 */
export async function amendUser(ctx: GatewayContext, idOrUsername: string, input: unknown): Promise<UserAmendment> {
  const a = parseInput(amendmentSchema, input);
  return inTransaction(ctx, async (ctx) => {
    const { user, memberships } = await findManageableUser(ctx, idOrUsername);
    const stored = memberships.map((m) => m.unit.path);
    const units = unitsAfter(user.username, stored, a);
    const roles = rolesAfter(user.username, user.roles, a);
    const changes: Partial<Record<AmendedField, unknown>> = {};
    if (a.displayName !== undefined && a.displayName !== user.displayName) changes.displayName = a.displayName;
    if (a.email !== undefined && a.email !== user.email) changes.email = a.email;
    if (!sameUnits(stored, units.paths)) changes.units = units.paths;
    if (!sameRoles(user.roles, roles)) changes.roles = roles;
    const changed = Object.keys(changes) as AmendedField[];
    const directory = (await directoriesOf(ctx, [user.id])).get(user.id)?.name ?? null;
    if (changed.length === 0) return { user, changed, primaryTaken: null, directory };
    const edit = await editUser(ctx, user.id, { ...changes, moveChat: a.moveChat });
    return { user: edit.user, changed, primaryTaken: changes.units ? units.primaryTaken : null, directory };
  });
}
