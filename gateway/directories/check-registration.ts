import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Op } from 'sequelize';
import { ValidationError } from '../../core/errors.ts';
import { isWithin } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';
import type { DirectorySettings } from './schemas.ts';

/**
 * What the schema cannot know: the CA file must be readable PEM, given by its absolute path, the unit root
 * must exist, and a unit-admin group must name a unit that exists or that the sync will make (below the unit
 * root).
 */
export async function checkAgainstSystem(
  ctx: GatewayContext,
  settings: DirectorySettings,
  caFile: string | null,
): Promise<void> {
  const problems: Record<string, string> = {};
  // The gateway reads the file from its own working directory, not from where the CLI was run (nor does
  // the console's typist know the gateway's): a relative path that checks out here fails every sign-in there.
  if (caFile && !isAbsolute(caFile))
    problems.caFile =
      `${caFile} is a relative path: give it in full (from this folder, ${resolve(caFile)}), since the gateway ` +
      'reads it from its own working directory';
  else if (caFile) {
    try {
      if (!readFileSync(caFile, 'utf8').includes('-----BEGIN CERTIFICATE-----'))
        problems.caFile = `${caFile} holds no PEM certificate`;
    } catch (error) {
      problems.caFile = `cannot read ${caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
  }
  const wanted = [settings.unitRoot, ...settings.roleGroups.flatMap((g) => (g.unit ? [g.unit] : []))];
  const known = new Set(
    (
      await ctx.models.OrgUnit.findAll({
        where: { path: { [Op.in]: wanted } },
        attributes: ['path'],
        transaction: ctx.tx,
      })
    ).map((u) => u.path),
  );
  if (!known.has(settings.unitRoot))
    problems.unitRoot = `unit ${settings.unitRoot} does not exist; create it first (atrium units add)`;
  const strays = settings.roleGroups.filter(
    (g) => g.unit && !known.has(g.unit) && !isWithin(g.unit, settings.unitRoot),
  );
  if (strays.length > 0)
    problems.roleGroups = `unit ${strays.map((g) => g.unit).join(', ')} does not exist and is not below ${settings.unitRoot}`;
  if (Object.keys(problems).length > 0) throw new ValidationError('Some fields are invalid', problems);
}
