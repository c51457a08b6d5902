import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';

/**
 * The person whose directory carries this username now, for a sign-in that named no Atrium username or
 * email: someone the directory renamed keeps their Atrium username (their address in chat) and may type
 * the name their campus gives them everywhere else. Only the one link that has the name, active or not:
 * a name that two links have (two directories each with a `jon`) is nobody's, as an unknown name is.
 * The link keeps the name the last sync read (apply-page.ts), so a rename counts from the next sync.
 */
export async function userByDirectoryUsername(ctx: GatewayContext, name: string): Promise<User | null> {
  const links = await ctx.models.DirectoryAccount.findAll({
    where: { directoryUsername: name },
    attributes: ['userId'],
    limit: 2,
    transaction: ctx.tx,
  });
  if (links.length !== 1) return null;
  return ctx.models.User.findByPk(links[0]!.userId, { transaction: ctx.tx });
}
