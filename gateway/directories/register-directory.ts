import { randomUUID } from 'node:crypto';
import { ConflictError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { parseInput } from '../../core/validate.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { checkAgainstSystem } from './check-registration.ts';
import { presentDirectory, type PresentedDirectory } from './present-directory.ts';
import { registrationSchema } from './schemas.ts';
import { composeSettings } from './settings.ts';

/** Registers a directory; the service account's password is sealed before it is stored. Full administrators only. */
export async function registerDirectory(
  ctx: GatewayContext,
  sealer: Sealer,
  input: unknown,
): Promise<PresentedDirectory> {
  assertFullAdmin(ctx.actor);
  const data = parseInput(registrationSchema, input);
  const settings = composeSettings(data, data.url, null, null);
  return inTransaction(ctx, async (ctx) => {
    await checkAgainstSystem(ctx, settings, data.caFile ?? null);
    if (await ctx.models.Directory.findOne({ where: { name: data.name }, transaction: ctx.tx }))
      throw new ConflictError(`A directory named ${data.name} is already registered`);
    const directory = await ctx.models.Directory.create(
      {
        id: randomUUID(),
        name: data.name,
        url: data.url,
        caFile: data.caFile ?? null,
        bindDn: data.bindDn,
        bindPasswordSealed: sealer.seal(data.bindPassword),
        settings: JSON.stringify(settings),
        resetUrl: data.resetUrl,
      },
      { transaction: ctx.tx },
    );
    await audit(ctx, {
      action: 'directory.add',
      target: directory.name,
      details: { url: directory.url, bindDn: directory.bindDn, settings },
    });
    return presentDirectory(directory, 0);
  });
}
