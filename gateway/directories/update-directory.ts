import type { Sealer } from '../../core/seal.ts';
import { parseInput } from '../../core/validate.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { checkAgainstSystem } from './check-registration.ts';
import { findDirectory } from './find-directory.ts';
import { presentDirectory, type PresentedDirectory } from './present-directory.ts';
import { changesSchema } from './schemas.ts';
import { composeSettings, directorySettingsOf } from './settings.ts';

/** Changes what is given; an empty bind password keeps the sealed one. Full administrators only. */
export async function updateDirectory(
  ctx: GatewayContext,
  sealer: Sealer,
  name: string,
  input: unknown,
): Promise<PresentedDirectory> {
  assertFullAdmin(ctx.actor);
  const changes = parseInput(changesSchema, input);
  return inTransaction(ctx, async (ctx) => {
    const directory = await findDirectory(ctx, name);
    const url = changes.url ?? directory.url;
    const before = { url: directory.url, ...directorySettingsOf(directory) };
    const settings = composeSettings(changes, url, before, before.url);
    const caFile = changes.caFile !== undefined ? changes.caFile : directory.caFile;
    await checkAgainstSystem(ctx, settings, caFile);
    const changed = Object.keys(changes).filter(
      (k) => (changes as Record<string, unknown>)[k] !== undefined && !(k === 'bindPassword' && !changes.bindPassword),
    );
    directory.url = url;
    directory.caFile = caFile;
    if (changes.bindDn) directory.bindDn = changes.bindDn;
    if (changes.bindPassword) directory.bindPasswordSealed = sealer.seal(changes.bindPassword);
    if (changes.resetUrl) directory.resetUrl = changes.resetUrl;
    // Entry ids name entries of one directory by one attribute: pointed elsewhere, or at another
    // attribute, the links take their ids afresh at the next sync, matched by username as at the first.
    if (url !== before.url || settings.idAttribute !== before.idAttribute)
      await ctx.models.DirectoryAccount.update(
        { entryId: null },
        { where: { directoryId: directory.id }, transaction: ctx.tx },
      );
    directory.settings = JSON.stringify(settings);
    await directory.save({ transaction: ctx.tx });
    await audit(ctx, {
      action: 'directory.update',
      target: directory.name,
      details: { changed, url, bindDn: directory.bindDn, settings },
    });
    const people = await ctx.models.DirectoryAccount.count({
      where: { directoryId: directory.id },
      transaction: ctx.tx,
    });
    return presentDirectory(directory, people);
  });
}
