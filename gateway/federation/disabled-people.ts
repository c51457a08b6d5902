import { Op } from 'sequelize';
import type { DisabledPerson } from '../../protocol/directory-person.ts';
import type { GatewayContext } from '../context.ts';
import { presentVisible, type DirectoryAsker } from './directory-search.ts';

/**
 * Of the usernames a node looks up, those of disabled accounts, named as they were, at the addresses the
 * asker may see: their colleagues keep seeing who they wrote with, marked disabled, rather than a bare
 * username. Answered beside the people, not among them: a node opens conversations, invites and keeps
 * webhooks only for people, and a search never finds a disabled account.
 */
export async function lookUpDisabledPeople(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  usernames: string[],
): Promise<DisabledPerson[]> {
  const users = await ctx.models.User.findAll({ where: { status: 'disabled', username: { [Op.in]: usernames } } });
  const found: DisabledPerson[] = [];
  for (const user of users) {
    const person = await presentVisible(ctx, asker, user);
    if (person)
      found.push({ username: person.username, name: person.name, addresses: person.addresses, disabled: true });
  }
  return found;
}
