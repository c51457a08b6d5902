import type { Client } from 'ldapts';
import { AppError, ConflictError, NotFoundError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { closeQuietly, endpointOf, openDirectory, unavailable } from './connection.ts';
import { personFilter } from './directory-password.ts';
import { describeEntryId, entryIdOf, idBufferAttributes } from './entry-id.ts';
import { DirectoryUnavailableError } from './errors.ts';
import { findDirectory } from './find-directory.ts';

export type Relinked = { directory: string; username: string; dn: string; entryId: string; previousDn: string };

/**
 * Makes the entry that now carries a person's username theirs, when an administrator knows it is them:
 * someone who left and came back under a new entry, or an entry rebuilt by hand. The sync never does
 * this by itself, since a username given to someone else later looks the same to it; it refuses such an
 * entry and says so in its report. The next sync then brings the person back as that entry says (enabled,
 * if it was the sync that disabled them). Full administrators only; audited.
 */
export async function relinkPerson(
  ctx: GatewayContext,
  sealer: Sealer,
  directoryName: string,
  username: string,
): Promise<Relinked> {
  assertFullAdmin(ctx.actor);
  const directory = await findDirectory(ctx, directoryName);
  const endpoint = endpointOf(directory, sealer);
  const s = endpoint.settings;
  if (!s.idAttribute)
    throw new AppError(
      'no_entry_ids',
      409,
      `directory ${directory.name} is set to have no entry id, so its people are matched by username already`,
    );
  const name = username.trim().toLowerCase();
  const user = await ctx.models.User.findOne({ where: { username: name }, transaction: ctx.tx });
  const link = user && (await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx }));
  if (!user || !link || link.directoryId !== directory.id)
    throw new NotFoundError(`${name} is not a person of directory ${directory.name}`);

  const found = await entryCarrying(endpoint, name);
  const id = entryIdOf(found.entry, s);
  if (!('id' in id) || id.id === null)
    throw new ConflictError(`the entry ${found.entry.dn} ${'problem' in id ? id.problem : 'has no id'}`);
  if (id.id === link.entryId) throw new ConflictError(`${name} is already the person of ${found.entry.dn}`);
  const holder = await ctx.models.DirectoryAccount.findOne({
    where: { directoryId: directory.id, entryId: id.id },
    transaction: ctx.tx,
  });
  if (holder) {
    const other = await ctx.models.User.findByPk(holder.userId, { attributes: ['username'], transaction: ctx.tx });
    throw new ConflictError(
      `the entry ${found.entry.dn} is already the entry of ${other?.username ?? 'another person'}`,
    );
  }

  const previousDn = link.dn;
  await inTransaction(ctx, async (ctx) => {
    link.entryId = id.id;
    link.dn = found.entry.dn;
    await link.save({ transaction: ctx.tx });
    await audit(ctx, {
      action: 'directory.relink',
      target: name,
      details: {
        directory: directory.name,
        dn: found.entry.dn,
        previousDn,
        entryId: describeEntryId(id.id, s.idAttribute),
      },
    });
  });
  return {
    directory: directory.name,
    username: name,
    dn: found.entry.dn,
    entryId: describeEntryId(id.id, s.idAttribute),
    previousDn,
  };
}

/** The one entry under the user base whose username attribute is this name. */
async function entryCarrying(endpoint: ReturnType<typeof endpointOf>, name: string) {
  const s = endpoint.settings;
  let client: Client | null = null;
  let entries: Awaited<ReturnType<Client['search']>>['searchEntries'];
  try {
    client = await openDirectory(endpoint);
    ({ searchEntries: entries } = await client.search(s.userBase, {
      scope: 'sub',
      filter: personFilter(s, name),
      attributes: [s.idAttribute!],
      explicitBufferAttributes: idBufferAttributes(s),
      sizeLimit: 2,
    }));
  } catch (error) {
    throw error instanceof DirectoryUnavailableError ? error : unavailable(endpoint.name, error);
  } finally {
    if (client) await closeQuietly(client);
  }
  if (entries.length === 0) throw new NotFoundError(`no entry under ${s.userBase} has ${s.usernameAttribute} ${name}`);
  if (entries.length > 1)
    throw new ConflictError(`more than one entry under ${s.userBase} has ${s.usernameAttribute} ${name}`);
  return { entry: entries[0]! };
}
