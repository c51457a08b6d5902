import { fn, col } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { findDirectory } from './find-directory.ts';
import { presentDirectory, type PresentedDirectory } from './present-directory.ts';

async function peopleCounts(ctx: GatewayContext): Promise<Map<string, number>> {
  const rows = (await ctx.models.DirectoryAccount.findAll({
    attributes: ['directoryId', [fn('COUNT', col('user_id')), 'people']],
    group: ['directoryId'],
    raw: true,
    transaction: ctx.tx,
  })) as unknown as { directoryId: string; people: number | string }[];
  return new Map(rows.map((r) => [r.directoryId, Number(r.people)]));
}

/** Every registered directory, for administrators of the whole campus. */
export async function listDirectories(ctx: GatewayContext): Promise<PresentedDirectory[]> {
  assertFullAdmin(ctx.actor);
  const [directories, people] = await Promise.all([
    ctx.models.Directory.findAll({ order: [['name', 'ASC']], transaction: ctx.tx }),
    peopleCounts(ctx),
  ]);
  return directories.map((d) => presentDirectory(d, people.get(d.id) ?? 0));
}

export async function showDirectory(ctx: GatewayContext, name: string): Promise<PresentedDirectory> {
  assertFullAdmin(ctx.actor);
  const directory = await findDirectory(ctx, name);
  const people = await ctx.models.DirectoryAccount.count({ where: { directoryId: directory.id }, transaction: ctx.tx });
  return presentDirectory(directory, people);
}
