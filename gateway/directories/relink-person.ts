import type { Client, Entry } from 'ldapts';
import { UniqueConstraintError } from 'sequelize';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { usernameSchema } from '../accounts/schemas.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { endpointOf, withDirectory, type DirectoryEndpoint } from './connection.ts';
import { findPersonDn, personFilter } from './directory-password.ts';
import { describeEntryId, entryIdOf, idBufferAttributes } from './entry-id.ts';
import { findDirectory } from './find-directory.ts';
import type { DirectorySettings } from './schemas.ts';
import { takeLease } from './sync-lease.ts';

export type Relinked = { directory: string; username: string; dn: string; entryId: string; previousDn: string };

/**
 * Makes the entry that now carries a person's username theirs, when an administrator knows it is them:
 * someone who left and came back under a new entry, or an entry rebuilt by hand. The sync never does
 * this by itself, since a username given to someone else later looks the same to it; it refuses such an
 * entry and says so in its report. The next sync then brings the person back as that entry says (enabled,
 * if it was the sync that disabled them). Refused while the person's own entry is still there (renamed,
 * and the name given to someone else). Holds the directory's sync lease from the checks of the links to the
 * change, so that no sync reads the links between them. Full administrators only; audited.
 */
export async function relinkPerson(
  ctx: GatewayContext,
  sealer: Sealer,
  directoryName: string,
  username: string,
): Promise<Relinked> {
  assertFullAdmin(ctx.actor);
  const parsed = usernameSchema.safeParse(username);
  if (!parsed.success) {
    const why = parsed.error.issues[0]!.message;
    throw new ValidationError(`"${username}" is not a username: ${why}`, { username: why });
  }
  const name = parsed.data;
  const directory = await findDirectory(ctx, directoryName);
  const endpoint = endpointOf(directory, sealer);
  const s = endpoint.settings;
  if (!s.idAttribute)
    throw new AppError(
      'no_entry_ids',
      409,
      `directory ${directory.name} is set to have no entry id, so its people are matched by username already`,
    );
  const linkOf = async () => {
    const user = await ctx.models.User.findOne({ where: { username: name }, transaction: ctx.tx });
    const link = user && (await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx }));
    if (!user || !link || link.directoryId !== directory.id)
      throw new NotFoundError(`${name} is not a person of directory ${directory.name}`);
    return link;
  };
  // The directory is asked before the lease is taken, so the lease is held only for the database's part:
  // a short hold, which another relink or a newcomer's first sign-in waits for instead of being refused.
  const looked = await linkOf();
  const { dn, entryId } = await newEntryOf(endpoint, name, looked.entryId);
  const lease = await takeLease(ctx, directory, { short: true });
  try {
    const link = await linkOf();
    if (link.entryId !== looked.entryId)
      throw new ConflictError(`${name}'s link changed while the directory was asked; try again`);
    const holder = await ctx.models.DirectoryAccount.findOne({
      where: { directoryId: directory.id, entryId },
      transaction: ctx.tx,
    });
    if (holder) throw await takenBy(ctx, holder.userId, dn);

    const previousDn = link.dn;
    const shown = describeEntryId(entryId, s.idAttribute);
    try {
      await inTransaction(ctx, async (ctx) => {
        link.entryId = entryId;
        link.dn = dn;
        // The entry carries their Atrium username: a name the directory gave their old entry is no longer theirs.
        link.directoryUsername = name;
        // The old entry's password change time says nothing of the new entry's: the next read notes its own.
        link.passwordChanged = null;
        await link.save({ transaction: ctx.tx });
        await audit(ctx, {
          action: 'directory.relink',
          target: name,
          details: { directory: directory.name, dn, previousDn, entryId: shown },
        });
      });
    } catch (error) {
      // Another link took the entry after the check: the lease keeps syncs and relinks out, but not every writer.
      if (!(error instanceof UniqueConstraintError)) throw error;
      throw new ConflictError(`the entry ${dn} is already the entry of another person`);
    }
    return { directory: directory.name, username: name, dn, entryId: shown, previousDn };
  } finally {
    await lease.release();
  }
}

/**
 * The one entry under the user base that carries the name, and its id: refused when it is the person's
 * already, when none or several carry the name, and when the entry the link names (`linkedId`) is still
 * there. That entry is the person wherever the directory moved or renamed it, so one carrying their old
 * name is someone else's.
 */
async function newEntryOf(
  endpoint: DirectoryEndpoint,
  name: string,
  linkedId: string | null,
): Promise<{ dn: string; entryId: string }> {
  const s = endpoint.settings;
  const { own, carrying } = await withDirectory(endpoint, async (client) => ({
    own: linkedId === null ? null : await findPersonDn(client, s, name, linkedId),
    carrying: await entriesCarrying(client, s, name),
  }));
  const found = carrying.length === 1 ? carrying[0]! : null;
  const read = found && entryIdOf(found, s);
  const entryId = read && 'id' in read ? read.id : null;
  if (found && entryId !== null && entryId === linkedId)
    throw new ConflictError(`${name} is already the person of ${found.dn}`);
  if (own)
    throw new ConflictError(`${name}'s own entry is still at ${own.dn} (the directory renamed it); nothing to relink`);
  if (!found)
    throw carrying.length === 0
      ? new NotFoundError(`no entry under ${s.userBase} has ${s.usernameAttribute} ${name}`)
      : new ConflictError(`more than one entry under ${s.userBase} has ${s.usernameAttribute} ${name}`);
  if (entryId === null)
    throw new ConflictError(`the entry ${found.dn} ${read && 'problem' in read ? read.problem : 'has no id'}`);
  return { dn: found.dn, entryId };
}

/** Every entry under the user base whose username attribute is this name (two at most: one is the answer). */
async function entriesCarrying(client: Client, s: DirectorySettings, name: string): Promise<Entry[]> {
  const { searchEntries } = await client.search(s.userBase, {
    scope: 'sub',
    filter: personFilter(s, name),
    attributes: [s.idAttribute!],
    explicitBufferAttributes: idBufferAttributes(s),
    sizeLimit: 2,
  });
  return searchEntries;
}

async function takenBy(ctx: GatewayContext, userId: string, dn: string): Promise<ConflictError> {
  const other = await ctx.models.User.findByPk(userId, { attributes: ['username'], transaction: ctx.tx });
  return new ConflictError(`the entry ${dn} is already the entry of ${other?.username ?? 'another person'}`);
}
