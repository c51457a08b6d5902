import { Op } from 'sequelize';
import { allowed } from '../../protocol/registry-client.ts';
import type { FormerMember } from '../../protocol/directory-person.ts';
import { FORMER_MEMBER } from '../accounts/delete-account.ts';
import type { GatewayContext } from '../context.ts';
import type { DirectoryAsker } from './directory-search.ts';

/**
 * Of the usernames a node looks up, those of deleted accounts, at the chat addresses they had on the
 * domains the asker may see: what they wrote stays in conversations, and is shown from a former member
 * rather than from a bare username someone might take for a person who is still here (nobody can: the
 * username is never given again). Answered beside the people, not among them, so that nothing takes a
 * former member for someone who exists (a node opens conversations and invites only people).
 */
export async function lookUpFormerMembers(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  usernames: string[],
): Promise<FormerMember[]> {
  const rows = await ctx.models.DeletedAccount.findAll({ where: { username: { [Op.in]: usernames } } });
  return rows.flatMap((row) => {
    const addresses = (JSON.parse(row.addresses) as string[]).filter((address) =>
      allowed(asker.registry, asker.origin, address.slice(address.lastIndexOf('@') + 1)),
    );
    return addresses.length === 0 ? [] : [{ username: row.username, name: FORMER_MEMBER, addresses }];
  });
}
