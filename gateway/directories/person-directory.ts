import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { describeEntryId } from './entry-id.ts';
import { directorySettingsOf } from './settings.ts';

/**
 * Where a person synced from a campus directory comes from, as an administrator looks it up there: the
 * directory, the entry's DN and id, and the username the entry carried at the last sync (which is not
 * their Atrium username when the directory renamed them).
 */
export type PersonDirectory = {
  name: string;
  dn: string;
  /** As reports show it (entry-id.ts): a GUID as AD writes it, an entryUUID as its text. */
  entryId: string | null;
  directoryUsername: string | null;
  /** The directory disabled them (a sync or a sign-in found them gone, locked or expired there). */
  disabledByDirectory: boolean;
};

/**
 * The directory each of these people comes from; local accounts are absent from the map. Two queries
 * whatever the number of people (a page of the user list), one when none of them has a link.
 */
export async function directoriesOf(ctx: GatewayContext, userIds: string[]): Promise<Map<string, PersonDirectory>> {
  const out = new Map<string, PersonDirectory>();
  if (userIds.length === 0) return out;
  const links = await ctx.models.DirectoryAccount.findAll({
    where: { userId: { [Op.in]: userIds } },
    attributes: ['userId', 'directoryId', 'dn', 'entryId', 'directoryUsername', 'disabledByDirectory'],
    transaction: ctx.tx,
  });
  if (links.length === 0) return out;
  const directories = await ctx.models.Directory.findAll({
    where: { id: { [Op.in]: [...new Set(links.map((l) => l.directoryId))] } },
    attributes: ['id', 'name', 'settings'],
    transaction: ctx.tx,
  });
  const byId = new Map(directories.map((d) => [d.id, { name: d.name, idAttribute: idAttributeOf(d) }]));
  for (const link of links) {
    const directory = byId.get(link.directoryId);
    // A link outlives its directory only inside removeDirectory's transaction.
    if (!directory) continue;
    out.set(link.userId, {
      name: directory.name,
      dn: link.dn,
      entryId: link.entryId === null ? null : describeEntryId(link.entryId, directory.idAttribute),
      directoryUsername: link.directoryUsername,
      disabledByDirectory: link.disabledByDirectory,
    });
  }
  return out;
}

/** The directory one person comes from; null for a local account. */
export async function directoryOf(ctx: GatewayContext, userId: string): Promise<PersonDirectory | null> {
  return (await directoriesOf(ctx, [userId])).get(userId) ?? null;
}

/**
 * The id attribute says how to show an id. A registration whose stored settings no longer parse still
 * shows its people (the id as text or hex): the person's page must not fail over the directory's row.
 */
function idAttributeOf(directory: Directory): string | null {
  try {
    return directorySettingsOf(directory).idAttribute;
  } catch {
    return null;
  }
}
