import { NotFoundError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';

export async function findDirectory(ctx: GatewayContext, name: string): Promise<Directory> {
  const directory = await ctx.models.Directory.findOne({
    where: { name: name.trim().toLowerCase() },
    transaction: ctx.tx,
  });
  if (!directory) throw new NotFoundError(`No directory ${name}`);
  return directory;
}
