import { ConflictError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';

/** A directory person's password is the directory's: Atrium neither keeps one nor sets one for them. */
export async function assertPasswordIsLocal(ctx: GatewayContext, user: User): Promise<void> {
  const link = await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx });
  if (!link) return;
  const directory = await ctx.models.Directory.findByPk(link.directoryId, { transaction: ctx.tx });
  const name = directory?.name ?? link.directoryId;
  throw new ConflictError(
    `${user.username} signs in with the password of directory ${name}; it is changed there${directory?.resetUrl ? ` (${directory.resetUrl})` : ''}, not in Atrium`,
  );
}
