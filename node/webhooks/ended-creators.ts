import { Op } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { domainOf, userOf } from '../../protocol/address.ts';
import type { EndedAccess, EndedEntry } from '../auth/ended-access.ts';
import type { AppDirectory } from '../bots/app-directory.ts';
import { askDirectory, USERNAMES_PER_LOOKUP, type GatewayDirectory } from '../federation/directory.ts';
import { revokeForCreator } from './creator-gone.ts';
import type { Webhook } from './models.ts';

type Parts = {
  Webhook: typeof Webhook;
  directory: GatewayDirectory;
  /** What the gateway says of an app's client now: whether a changed app was disabled or deleted. */
  apps: Pick<AppDirectory, 'forget' | 'client'>;
  logger: Logger;
};

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

/** The webhooks not revoked that an app's client made, until `endedAt`, for `creatorSub` if given. */
async function appsWebhooks(parts: Parts, clientId: string, endedAt: number, creatorSub?: string): Promise<string[]> {
  const hooks = await parts.Webhook.findAll({
    where: {
      clientId,
      revokedAt: null,
      createdAt: { [Op.lte]: new Date(endedAt) },
      ...(creatorSub === undefined ? {} : { creatorSub }),
    },
    attributes: ['id'],
  });
  return hooks.map((h) => h.id);
}

/**
 * Revokes the webhooks an app made with a person's token when they removed its access (an entry of that
 * person and app): the app no longer acts for them, so no URL it holds posts as theirs. Only those made
 * until then: the person may allow the app again, and what it makes after is theirs again.
 */
async function revokeWebhooksOfRemovedApps(parts: Parts, entries: EndedEntry[]): Promise<void> {
  for (const entry of entries) {
    if (entry.kind !== 'sub' || entry.clientId === undefined) continue;
    const ids = await appsWebhooks(parts, entry.clientId, entry.endedAt, entry.subject);
    await revokeForCreator(parts, ids, 'the person removed the access of the app that made them');
  }
}

/**
 * Revokes the webhooks made with an app's tokens when an administrator disabled or deleted it (an entry of
 * a changed app: the gateway is asked afresh whether its client may still be used, since an edit changes it
 * too). When the gateway cannot say, they are revoked, as a person's are (revokeWebhooksOfEnded).
 */
async function revokeWebhooksOfEndedApps(parts: Parts, entries: EndedEntry[]): Promise<void> {
  for (const entry of entries) {
    if (entry.kind !== 'app' || entry.clientId === undefined) continue;
    const ids = await appsWebhooks(parts, entry.clientId, entry.endedAt);
    if (ids.length === 0) continue;
    parts.apps.forget(entry.subject, entry.clientId);
    const active = await parts.apps.client(entry.clientId).then(
      (client) => client.active,
      (err: unknown) => {
        parts.logger.warn(
          { err, clientId: entry.clientId },
          'the gateway could not say whether a changed app is active',
        );
        return false;
      },
    );
    if (!active) await revokeForCreator(parts, ids, 'the app that made them was disabled or deleted');
  }
}

/**
 * `ended`, which also revokes the webhooks of the people whose access it is told ended, those an app made
 * for a person who removed its access, and those of an app disabled or deleted. It is told by
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
      await revokeWebhooksOfRemovedApps(parts, entries).catch((err: unknown) =>
        parts.logger.warn({ err }, 'revoking the webhooks of apps whose access a person removed failed'),
      );
      await revokeWebhooksOfEndedApps(parts, entries).catch((err: unknown) =>
        parts.logger.warn({ err }, 'revoking the webhooks of disabled or deleted apps failed'),
      );
    },
  };
}
