import { Op } from 'sequelize';
import { ConflictError, ForbiddenError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { Role, User, UserStatus } from '../models/index.ts';
import type { UnitMembership } from './memberships.ts';
import { isWithin } from './scope.ts';
import { withRole } from './with-role.ts';

/** A change refused for the console it would leave without; `field` is the form field it concerns. */
export type AdministratorRefusal = OwnAdministratorError | LastAdministratorError;

/** An administrator taking their own administration away: another administrator must do it. */
export class OwnAdministratorError extends ForbiddenError {
  readonly field: 'roles' | 'status' | 'units';

  constructor(field: 'roles' | 'status' | 'units', message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * The last active administrator losing the role, being disabled or deleted (`account`): nobody could open
 * the console.
 */
export class LastAdministratorError extends ConflictError {
  readonly field: 'roles' | 'status' | 'account';

  /** `remedy` says how to make another administrator on the transport at hand. */
  constructor(field: 'roles' | 'status' | 'account', username: string, remedy: string) {
    const change =
      field === 'status' ? 'cannot be disabled' : field === 'account' ? 'cannot be deleted' : 'keeps the admin role';
    super(
      `${username} is the last active administrator and ${change}: without one, nobody can open the admin console. ${remedy}`,
    );
    this.field = field;
  }
}

type After = { roles: Role[]; status: UserStatus };

/**
 * Refuses a change by which the signed-in administrator would take away their own way into the
 * console: their admin role, or the unit-admin role that is all they have. Disabling themselves is
 * refused the same way. The operator's CLI and other administrators may still do it.
 */
export function refuseOwnAdministration(ctx: GatewayContext, user: User, after: After): void {
  if (ctx.actor.kind !== 'user' || ctx.actor.id !== user.id) return;
  if (after.status === 'disabled' && user.status !== 'disabled')
    throw new OwnAdministratorError('status', 'You cannot disable your own account: another administrator can.');
  const lost =
    (user.roles.includes('admin') && !after.roles.includes('admin')) ||
    (user.roles.includes('unit-admin') && !after.roles.includes('unit-admin') && !after.roles.includes('admin'));
  if (lost) {
    const role = user.roles.includes('admin') ? 'admin' : 'unit-admin';
    throw new OwnAdministratorError(
      'roles',
      `You cannot remove your own ${role} role: you would lose the admin console at once. Another administrator can.`,
    );
  }
}

/**
 * Refuses new units by which a signed-in unit admin would administer less than they do: a unit of theirs
 * dropped that no unit they keep administering still covers (a local person administers every unit they
 * are given; a directory's person only what its unit-admin groups give them). Moving to a unit inside
 * their own would leave them unable to move back. A campus administrator's scope is not their units.
 */
export async function refuseOwnUnitsDropped(
  ctx: GatewayContext,
  user: User,
  memberships: UnitMembership[],
  units: string[],
): Promise<void> {
  if (ctx.actor.kind !== 'user' || ctx.actor.id !== user.id || user.roles.includes('admin')) return;
  const administered = memberships.filter((m) => m.administers).map((m) => m.unit.path);
  const dropped = administered.filter((path) => !units.includes(path));
  if (dropped.length === 0) return;
  const fromDirectory =
    (await ctx.models.DirectoryAccount.count({ where: { userId: user.id }, transaction: ctx.tx })) > 0;
  const before = new Set(memberships.map((m) => m.unit.path));
  const kept = units.filter((path) => administered.includes(path) || (!fromDirectory && !before.has(path)));
  const lost = dropped.find((path) => !kept.some((root) => isWithin(path, root)));
  if (lost === undefined) return;
  throw new OwnAdministratorError(
    'units',
    `You cannot take yourself off ${lost}, which you administer: another administrator can.`,
  );
}

/**
 * Refuses, for any actor (the operator's CLI too), a change that leaves no active administrator: the
 * person is one now and would no longer be (role removed, or disabled), and nobody else is. Runs in the
 * change's transaction, before it: the administrators' rows are locked (in one order, so two such
 * changes wait for each other rather than deadlock) and read again, so two administrators removed at
 * the same time cannot both pass by counting each other.
 */
export async function keepAnAdministrator(ctx: GatewayContext, user: User, after: After): Promise<void> {
  const staysOne = after.status === 'active' && after.roles.includes('admin');
  if (staysOne || !(await isLastAdministrator(ctx, user))) return;
  throw new LastAdministratorError(after.status === 'disabled' ? 'status' : 'roles', user.username, remedyOf(ctx));
}

/** How to make another administrator, on the transport at hand. */
export function remedyOf(ctx: GatewayContext): string {
  return ctx.actor.kind === 'operator'
    ? 'Add another administrator first: atrium users add USERNAME --role admin (with --name, --email, --unit).'
    : 'Make someone else an administrator first.';
}

/**
 * Whether the person is an active administrator and nobody else is, read in the caller's transaction with
 * the administrators' rows locked (keepAnAdministrator says why); a directory sync asks it too.
 */
export async function isLastAdministrator(ctx: GatewayContext, user: User): Promise<boolean> {
  if (user.status !== 'active' || !user.roles.includes('admin')) return false;
  const { User } = ctx.models;
  const seen = await User.findAll({
    where: { [Op.and]: [{ status: 'active' }, withRole(ctx.sequelize, 'admin')] },
    attributes: ['id'],
    transaction: ctx.tx,
  });
  const held = await User.findAll({
    where: { id: { [Op.in]: seen.map((u) => u.id) } },
    order: [['id', 'ASC']],
    transaction: ctx.tx,
    lock: true,
  });
  return !held.some((u) => u.id !== user.id && u.status === 'active' && u.roles.includes('admin'));
}
