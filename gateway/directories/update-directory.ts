import { Op } from 'sequelize';
import { ConflictError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { parseInput } from '../../core/validate.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { inTransaction } from '../transaction.ts';
import { checkAgainstSystem } from './check-registration.ts';
import { findDirectory } from './find-directory.ts';
import { presentDirectory, type PresentedDirectory } from './present-directory.ts';
import { changesSchema, type Changes, type DirectorySettings } from './schemas.ts';
import { composeSettings, directorySettingsOf } from './settings.ts';
import { takeLease, type Lease } from './sync-lease.ts';

/**
 * Changes what is given; an empty bind password keeps the sealed one. Full administrators only.
 *
 * The entry ids the links keep are cleared only when the id attribute really changes (its name is
 * case-insensitive) or when asked (`forgetEntryIds`, for a directory rebuilt with new ids): the next sync
 * then matches people by username, which a username given to someone else can fool. Another URL is the
 * same directory by another name (a host alias, ldaps, a replica), so it keeps them. Clearing holds the
 * directory's sync lease: a sync running meanwhile would write ids of the old attribute into the cleared
 * links, and the next one would disable those people.
 *
 * Likewise the password change times the links keep are cleared when the attribute they come from changes:
 * the next sync only notes the new attribute's values, where comparing them with the old one's would sign
 * out everyone. Under the lease too, so that no running sync writes an old attribute's value after it.
 */
export async function updateDirectory(
  ctx: GatewayContext,
  sealer: Sealer,
  name: string,
  input: unknown,
): Promise<PresentedDirectory> {
  assertFullAdmin(ctx.actor);
  const changes = parseInput(changesSchema, input);
  const current = await findDirectory(ctx, name);
  const next = composed(changes, current);
  const clearing = clearsEntryIds(changes, current, next) || forgetsPasswordChanges(current, next);
  const lease = clearing ? await takeLease(ctx, current) : null;
  try {
    return await inTransaction(ctx, (ctx) => apply(ctx, sealer, name, changes, lease));
  } finally {
    await lease?.release();
  }
}

async function apply(
  ctx: GatewayContext,
  sealer: Sealer,
  name: string,
  changes: Changes,
  lease: Lease | null,
): Promise<PresentedDirectory> {
  const directory = await findDirectory(ctx, name);
  const settings = composed(changes, directory);
  const url = changes.url ?? directory.url;
  const caFile = changes.caFile !== undefined ? changes.caFile : directory.caFile;
  await checkAgainstSystem(ctx, settings, caFile);
  const clears = clearsEntryIds(changes, directory, settings);
  const forgets = forgetsPasswordChanges(directory, settings);
  // Someone changed an attribute between the first look and this one, without the lease taken for it.
  if ((clears || forgets) && !lease)
    throw new ConflictError(`directory ${directory.name} changed meanwhile; try again`);
  const changed = Object.keys(changes).filter((k) => {
    const value = (changes as Record<string, unknown>)[k];
    return value !== undefined && !(k === 'bindPassword' && !value) && !(k === 'forgetEntryIds' && !value);
  });
  directory.url = url;
  directory.caFile = caFile;
  if (changes.bindDn) directory.bindDn = changes.bindDn;
  if (changes.bindPassword) directory.bindPasswordSealed = sealer.seal(changes.bindPassword);
  if (changes.resetUrl) directory.resetUrl = changes.resetUrl;
  const [entryIdsCleared] = clears
    ? await ctx.models.DirectoryAccount.update(
        { entryId: null },
        { where: { directoryId: directory.id, entryId: { [Op.ne]: null } }, transaction: ctx.tx },
      )
    : [0];
  const [passwordChangesCleared] = forgets
    ? await ctx.models.DirectoryAccount.update(
        { passwordChanged: null },
        { where: { directoryId: directory.id, passwordChanged: { [Op.ne]: null } }, transaction: ctx.tx },
      )
    : [0];
  directory.settings = JSON.stringify(settings);
  await directory.save({ transaction: ctx.tx });
  await audit(ctx, {
    action: 'directory.update',
    target: directory.name,
    details: {
      changed,
      url,
      bindDn: directory.bindDn,
      settings,
      ...(clears ? { entryIdsCleared } : {}),
      ...(forgets ? { passwordChangesCleared } : {}),
    },
  });
  const people = await ctx.models.DirectoryAccount.count({
    where: { directoryId: directory.id },
    transaction: ctx.tx,
  });
  return presentDirectory(directory, people);
}

const composed = (changes: Changes, directory: Directory) =>
  composeSettings(changes, changes.url ?? directory.url, directorySettingsOf(directory), directory.url);

function forgetsPasswordChanges(directory: Directory, settings: DirectorySettings): boolean {
  const before = directorySettingsOf(directory).passwordChangedAttribute;
  return before?.toLowerCase() !== settings.passwordChangedAttribute?.toLowerCase();
}

function clearsEntryIds(changes: Changes, directory: Directory, settings: DirectorySettings): boolean {
  const before = directorySettingsOf(directory).idAttribute;
  return changes.forgetEntryIds === true || before?.toLowerCase() !== settings.idAttribute?.toLowerCase();
}
