import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { Actor, GatewayContext } from '../context.ts';
import type { OrgUnit } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { adminScopeOf, scopeCovers } from './scope.ts';
import { displayNameSchema, unitPathSchema } from './schemas.ts';

const newUnitSchema = z.object({ path: unitPathSchema, name: displayNameSchema });
const renameSchema = z.object({ path: unitPathSchema, name: displayNameSchema });

/** One segment of a unit path, as the console's "short name" field asks for it. */
export const unitSegmentSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
    message: 'one short name of lowercase letters, digits and dashes (at most 63, no "/"), such as physics',
  });

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

/** Who adds, renames and removes the unit at `path`, in words: the administrators of its parent, or campus administrators. */
export function whoShapes(path: string): string {
  const parentPath = parentPathOf(path);
  return parentPath
    ? `the administrators of ${parentPath}, the unit above it, or campus administrators`
    : 'campus administrators, since it is a top-level unit';
}

/**
 * Who may add, rename or remove a unit: whoever administers its parent, so a unit admin shapes what lies
 * below their own units but not those units themselves; a root unit (no "/") needs a full administrator.
 * A unit admin refused their own unit is told that rule, not just that they may not.
 */
export function assertMayShape(actor: Actor, path: string, change: 'add' | 'rename' | 'remove'): void {
  const parentPath = parentPathOf(path);
  const scope = adminScopeOf(actor);
  if (parentPath ? scopeCovers(scope, parentPath) : scope.all) return;
  const done = { add: 'added', rename: 'renamed', remove: 'removed' }[change];
  throw new ForbiddenError(`You may not ${change} ${path}: it is ${done} by ${whoShapes(path)}.`);
}

/** The unit at `path`, or a clear "no such unit". */
export async function findUnit(ctx: GatewayContext, path: string): Promise<OrgUnit> {
  const unit = await ctx.models.OrgUnit.findOne({ where: { path }, transaction: ctx.tx });
  if (!unit) throw new NotFoundError(`No unit ${path}`);
  return unit;
}

/**
 * Two units side by side (the same parent, or both at the top) with one name cannot be told apart where
 * units are picked by name (a person's units, an app's visibility, the portal's directory): refused, case
 * and spacing aside. Names that only search takes as one (Straße and Strasse) still read apart, and a
 * directory may hold both side by side.
 */
/** A name as a picker shows it, for comparing: composed alike, lower case, spaces collapsed. */
const asShown = (name: string) => name.normalize('NFC').toLowerCase().replace(/\s+/g, ' ').trim();

async function assertNameFreeBesides(ctx: GatewayContext, path: string, parentId: string | null, name: string) {
  const siblings = await ctx.models.OrgUnit.findAll({
    where: { parentId, path: { [Op.ne]: path } },
    attributes: ['path', 'name'],
    transaction: ctx.tx,
  });
  const same = siblings.find((unit) => asShown(unit.name) === asShown(name));
  if (same)
    throw new ValidationError(`${same.path} is already called "${same.name}": give ${path} another name`, {
      name: `already the name of ${same.path}, beside it`,
    });
}

/** Adds a unit under an existing parent; a root unit (no "/") needs a full administrator. */
export async function createUnit(ctx: GatewayContext, input: unknown): Promise<OrgUnit> {
  const { path, name } = parseInput(newUnitSchema, input);
  const parentPath = parentPathOf(path);
  assertMayShape(ctx.actor, path, 'add');
  return inTransaction(ctx, async (ctx) => {
    const { OrgUnit } = ctx.models;
    if (await OrgUnit.findOne({ where: { path }, transaction: ctx.tx }))
      throw new ConflictError(`Unit ${path} already exists`);
    const parent = parentPath ? await OrgUnit.findOne({ where: { path: parentPath }, transaction: ctx.tx }) : null;
    if (parentPath && !parent)
      throw new ValidationError(`Parent unit ${parentPath} does not exist`, {
        path: `parent ${parentPath} does not exist`,
      });
    await assertNameFreeBesides(ctx, path, parent?.id ?? null, name);
    const unit = await OrgUnit.create(
      { id: randomUUID(), path, name, parentId: parent?.id ?? null },
      { transaction: ctx.tx },
    );
    await audit(ctx, { action: 'unit.create', target: path, details: { name } });
    return unit;
  });
}

/**
 * Gives a unit another display name. Its path stays: tokens' org_units claims, domain nodes, directory
 * mappings and app visibility name units by path.
 */
export async function renameUnit(ctx: GatewayContext, input: unknown): Promise<OrgUnit> {
  const { path, name } = parseInput(renameSchema, input);
  assertMayShape(ctx.actor, path, 'rename');
  return inTransaction(ctx, async (ctx) => {
    const unit = await findUnit(ctx, path);
    const before = unit.name;
    if (before === name) return unit;
    await assertNameFreeBesides(ctx, path, unit.parentId, name);
    unit.name = name;
    await unit.save({ transaction: ctx.tx });
    await audit(ctx, { action: 'unit.rename', target: path, details: { from: before, to: name } });
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
