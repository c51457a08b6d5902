import { Op } from 'sequelize';
import { ConflictError } from '../../core/errors.ts';
import { endAccessOf } from '../accounts/end-access.ts';
import { isLastAdministrator } from '../accounts/keep-administrators.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { findDirectory } from './find-directory.ts';

/**
 * A directory that still has people is removed only with its people disabled. `how` says how the
 * operator asks for that where they are (the CLI's flag by default; the console's checkbox).
 */
/** What the operator is told of a removal; `remedy` says how to give the person kept a password where they are. */
export function describeRemoval(removed: RemovedDirectory, remedy: (username: string) => string): string {
  const disabled = removed.disabled > 0 ? `; disabled ${removed.disabled} of its people` : '';
  const kept = removed.keptAdministrator
    ? ` Kept ${removed.keptAdministrator} enabled and signed in where they were: they are the last active administrator, and without one nobody can open the admin console. Their password was the directory's: ${remedy(removed.keptAdministrator)}.`
    : '';
  return `Removed directory ${removed.name}${disabled}.${kept}`;
}

export class DirectoryHasPeopleError extends ConflictError {
  readonly directory: string;
  readonly people: number;

  constructor(directory: string, people: number, how = 'remove it with --disable-people to disable them') {
    super(`Directory ${directory} still has ${people} people, who could not sign in without it; ${how}`);
    this.directory = directory;
    this.people = people;
  }
}

/** What removing a directory did: how many of its people it disabled, and the last administrator it kept. */
export type RemovedDirectory = { name: string; disabled: number; keptAdministrator: string | null };

/**
 * Removes a registration. Its people could no longer sign in (their passwords live there), so a directory
 * that still has people is only removed when the administrator says to disable them: each is disabled,
 * everything they hold ends, and they stay as local accounts without a password (an administrator may
 * give one a password to keep them). As a sync does (keep-last-administrator.ts), it keeps the campus's
 * last active administrator enabled, sessions and all, so that someone can still open the console and
 * give them a password; the audit log says so (`user.keep_administrator`).
 */
export async function removeDirectory(
  ctx: GatewayContext,
  name: string,
  options: { disablePeople?: boolean } = {},
): Promise<RemovedDirectory> {
  assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const directory = await findDirectory(ctx, name);
    const links = await ctx.models.DirectoryAccount.findAll({
      where: { directoryId: directory.id },
      transaction: ctx.tx,
    });
    if (links.length > 0 && !options.disablePeople) throw new DirectoryHasPeopleError(directory.name, links.length);
    const people = await ctx.models.User.findAll({
      where: { id: { [Op.in]: links.map((l) => l.userId) } },
      transaction: ctx.tx,
    });
    let disabled = 0;
    let keptAdministrator: string | null = null;
    for (const user of people) {
      if (await isLastAdministrator(ctx, user)) {
        keptAdministrator = user.username;
        await audit(ctx, {
          action: 'user.keep_administrator',
          target: user.username,
          details: { directory: directory.name, said: 'directory removed', found: 'removal', kept: 'enabled' },
        });
        continue;
      }
      if (user.status === 'active') {
        user.status = 'disabled';
        disabled += 1;
      }
      await endAccessOf(ctx, user);
    }
    await ctx.models.DirectoryAccount.destroy({ where: { directoryId: directory.id }, transaction: ctx.tx });
    await directory.destroy({ transaction: ctx.tx });
    await audit(ctx, {
      action: 'directory.remove',
      target: directory.name,
      details: { people: links.length, disabled, ...(keptAdministrator && { keptAdministrator }) },
    });
    return { name: directory.name, disabled, keptAdministrator };
  });
}
