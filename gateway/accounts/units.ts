import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { OrgUnit } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { assertCovers, assertFullAdmin } from './scope.ts';
import { displayNameSchema, unitPathSchema } from './schemas.ts';

const newUnitSchema = z.object({ path: unitPathSchema, name: displayNameSchema });

export function parentPathOf(path: string): string | null {
  const cut = path.lastIndexOf('/');
  return cut === -1 ? null : path.slice(0, cut);
}

/** The path itself and every ancestor, nearest first: campus/eng/cs → [campus/eng/cs, campus/eng, campus]. */
export function selfAndAncestors(path: string): string[] {
  const out: string[] = [];
  for (let p: string | null = path; p; p = parentPathOf(p)) out.push(p);
  return out;
}

/** Adds a unit under an existing parent; a root unit (no "/") needs a full administrator. */
export async function createUnit(ctx: GatewayContext, input: unknown): Promise<OrgUnit> {
  const { path, name } = parseInput(newUnitSchema, input);
  const parentPath = parentPathOf(path);
  if (parentPath) assertCovers(ctx.actor, [parentPath]);
  else assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const { OrgUnit } = ctx.models;
    if (await OrgUnit.findOne({ where: { path }, transaction: ctx.tx }))
      throw new ConflictError(`Unit ${path} already exists`);
    const parent = parentPath ? await OrgUnit.findOne({ where: { path: parentPath }, transaction: ctx.tx }) : null;
    if (parentPath && !parent)
      throw new ValidationError(`Parent unit ${parentPath} does not exist`, {
        path: `parent ${parentPath} does not exist`,
      });
    const unit = await OrgUnit.create(
      { id: randomUUID(), path, name, parentId: parent?.id ?? null },
      { transaction: ctx.tx },
    );
    await audit(ctx, { action: 'unit.create', target: path, details: { name } });
    return unit;
  });
}

/** Looks units up by path; every path must exist. */
export async function unitsByPaths(ctx: GatewayContext, paths: string[]): Promise<OrgUnit[]> {
  const unique = [...new Set(paths)];
  const units = await ctx.models.OrgUnit.findAll({ where: { path: { [Op.in]: unique } }, transaction: ctx.tx });
  const missing = unique.filter((p) => !units.some((u) => u.path === p));
  if (missing.length > 0)
    throw new ValidationError(`Unknown unit ${missing.join(', ')}`, { units: `unknown unit ${missing.join(', ')}` });
  return unique.map((p) => units.find((u) => u.path === p)!);
}

export async function listUnits(ctx: GatewayContext): Promise<OrgUnit[]> {
  return ctx.models.OrgUnit.findAll({ order: [['path', 'ASC']], transaction: ctx.tx });
}
