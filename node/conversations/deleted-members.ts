import { Op } from 'sequelize';
import type { EndedAccess, EndedEntry } from '../auth/ended-access.ts';
import type { NodeContext, NodeServices } from '../context.ts';
import { leaveGroup } from './leave-group.ts';

/** Why the gateway ended a person's access for good: their account was deleted (gateway/accounts/delete-account.ts). */
export const ACCOUNT_DELETED = 'account_deleted';

/** The deleted person acting, to leave their groups: their access has ended, so no token of theirs ever is. */
function formerMember(services: NodeServices, entry: EndedEntry, address: string): NodeContext {
  const username = address.slice(0, address.lastIndexOf('@'));
  return {
    ...services,
    actor: {
      kind: 'user',
      sub: entry.subject,
      username,
      name: username,
      address,
      sid: null,
      clientId: 'atrium-gateway',
      expiresAt: entry.keepUntil,
    },
  };
}

/**
 * Takes the deleted people of `entries` out of the groups this domain hosts, as if each left (an owner's
 * group passes on, the other members' domains are told by the group's home as for any leave); their
 * messages stay. Each group's home does this for its own groups, so that every group is changed once, in
 * order, by the domain that orders it. Returns how many groups they left.
 */
export async function leaveGroupsOfDeleted(services: NodeServices, entries: EndedEntry[]): Promise<number> {
  let left = 0;
  for (const entry of entries) {
    if (entry.kind !== 'sub' || entry.reason !== ACCOUNT_DELETED || !entry.addresses?.length) continue;
    const memberships = await services.models.Member.findAll({
      where: { address: { [Op.in]: entry.addresses }, state: 'active' },
      attributes: ['conversationId', 'address'],
    });
    for (const { conversationId, address } of memberships) {
      const conversation = await services.models.Conversation.findByPk(conversationId);
      if (conversation?.kind !== 'group' || conversation.homeDomain !== services.domain) continue;
      try {
        await leaveGroup(formerMember(services, entry, address), { conversationId });
        left += 1;
      } catch (err) {
        // Another process or an earlier look took them out meanwhile, or the next look tries again.
        services.logger.warn({ err, conversationId }, 'a deleted person could not be taken out of a group');
      }
    }
  }
  return left;
}

/**
 * `ended`, which also takes deleted people out of this domain's groups. It is told by the gateway's push
 * and by every process's poll (from the beginning at each start), so an entry is looked at more than once
 * and a failed look is tried again; someone no longer a member is not looked for.
 */
export function leavingGroupsOfDeleted(ended: EndedAccess, services: NodeServices): EndedAccess {
  return {
    ...ended,
    async record(entries) {
      await ended.record(entries);
      await leaveGroupsOfDeleted(services, entries).catch((err: unknown) =>
        services.logger.warn({ err }, 'taking deleted people out of their groups failed'),
      );
    },
  };
}
