import { Op } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { EndedAccess, EndedEntry } from '../auth/ended-access.ts';
import { askDirectory, USERNAMES_PER_LOOKUP, type GatewayDirectory } from '../federation/directory.ts';
import { revokeForCreator } from './creator-gone.ts';
import type { Webhook } from './models.ts';

type Parts = { Webhook: typeof Webhook; directory: GatewayDirectory; logger: Logger };

/**
 * The addresses among `addresses` (this domain's) whose person the gateway still has as active on this
 * domain. Undefined when the gateway could not say.
 */
async function stillHere(parts: Parts, addresses: string[]): Promise<Set<string> | undefined> {
  const here = new Set<string>();
  try {
    for (let i = 0; i < addresses.length; i += USERNAMES_PER_LOOKUP) {
      const usernames = addresses.slice(i, i + USERNAMES_PER_LOOKUP).map(userOf);
      for (const person of await askDirectory(parts.directory, { usernames: usernames.join(',') }))
        for (const address of person.addresses) if (domainOf(address) === parts.directory.domain) here.add(address);
    }
  } catch (err) {
    parts.logger.warn({ err }, 'the gateway could not say whether the creators of webhooks are still active');
    return undefined;
  }
  return here;
}

/**
 * Revokes the webhooks of the people whose whole access the gateway ended, if they are no longer active
 * people of this domain (disabled, deleted, moved off its units). An entry of a person's also comes with
 * a password reset or "sign out everywhere", which leave their webhooks alone: the gateway's directory,
 * which lists active people only, tells the two apart. When it cannot be asked, the webhooks are revoked:
 * a disabled person's webhook posting on is the worse mistake, and the group's admins can make a new one.
 */
async function revokeWebhooksOfEnded(parts: Parts, entries: EndedEntry[]): Promise<void> {
  const subjects = entries.filter((e) => e.kind === 'sub' && e.clientId === undefined).map((e) => e.subject);
  if (subjects.length === 0) return;
  const hooks = await parts.Webhook.findAll({
    where: { creatorSub: { [Op.in]: [...new Set(subjects)] }, revokedAt: null },
    attributes: ['id', 'createdBy'],
  });
  if (hooks.length === 0) return;
  const here = await stillHere(parts, [...new Set(hooks.map((h) => h.createdBy))]);
  const gone = hooks.filter((h) => !here?.has(h.createdBy)).map((h) => h.id);
  await revokeForCreator(parts, gone, here ? 'creator no longer active here' : 'creator not confirmed active');
}

/**
 * `ended`, which also revokes the webhooks of the people whose access it is told ended. It is told by
 * the gateway's push and by every process's poll (which starts from the beginning at each start), so an
 * entry is looked at more than once and a failed look is tried again.
 */
export function endingCreatorsWebhooks(ended: EndedAccess, parts: Parts): EndedAccess {
  return {
    ...ended,
    async record(entries) {
      await ended.record(entries);
      await revokeWebhooksOfEnded(parts, entries).catch((err: unknown) =>
        parts.logger.warn({ err }, 'revoking the webhooks of people whose access ended failed'),
      );
    },
  };
}
