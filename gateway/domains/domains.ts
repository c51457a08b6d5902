import { randomUUID } from 'node:crypto';
import { Op, QueryTypes } from 'sequelize';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Domain } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { domainNameSchema, httpUrlSchema, unitPathSchema } from '../accounts/schemas.ts';
import { selfAndAncestors, unitsByPaths } from '../accounts/units.ts';
import { remember } from '../request-memo.ts';
import { findByColumn } from '../../core/find-by-column.ts';
import { guardHomeMoves, type HomeMoves } from './home-moves.ts';

const domainSchema = z.object({
  name: domainNameSchema,
  url: httpUrlSchema,
  // A domain of a partner organization, reached through its proxy, serves none of this campus's units.
  units: z.array(unitPathSchema),
  /**
   * A form's explicit answer to "a partner organization's domain?". With it, no unit means a partner's
   * domain only when said so: a forgotten tick must not turn a campus node into a partner's, whose pairs
   * nodes do not judge by this campus's policy (federation/registry.ts).
   */
  partner: z.boolean().optional(),
  // The operator's confirmation that people whose IM home domain the change moves are to move (home-moves.ts).
  movePeople: z.boolean().optional(),
});

function partnerMatchesUnits(data: { units?: string[]; partner?: boolean }, ctx: z.RefinementCtx): void {
  if (data.partner === undefined || data.units === undefined) return;
  if (data.units.length === 0 && !data.partner)
    ctx.addIssue({
      code: 'custom',
      path: ['units'],
      message: "tick the units this node serves, or mark it as a partner organization's domain",
    });
  if (data.units.length > 0 && data.partner)
    ctx.addIssue({
      code: 'custom',
      path: ['units'],
      message: "a partner organization's domain serves none of this campus's units: untick them or the partner box",
    });
}

const addSchema = domainSchema.superRefine(partnerMatchesUnits);
const updateSchema = domainSchema.omit({ name: true }).partial().superRefine(partnerMatchesUnits);

export type PresentedDomain = { id: string; name: string; url: string; units: string[] };

/** Registers an IM domain node: its name, its URL (the audience of its access tokens) and the units it serves. */
export async function addDomain(ctx: GatewayContext, input: unknown): Promise<Domain> {
  const data = parseInput(addSchema, input);
  assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const { Domain } = ctx.models;
    const clash = await Domain.findOne({
      where: { [Op.or]: [{ name: data.name }, { url: data.url }] },
      transaction: ctx.tx,
    });
    if (clash)
      throw new ConflictError(
        clash.name === data.name ? `Domain ${data.name} exists` : `URL ${data.url} is used by ${clash.name}`,
      );
    const units = await unitsByPaths(ctx, data.units);
    await refuseUnitsServedElsewhere(ctx, null, units);
    const domain = Domain.build({ id: randomUUID(), name: data.name, url: data.url });
    const moved = await guardHomeMoves(ctx, data.movePeople === true, async () => {
      await domain.save({ transaction: ctx.tx });
      await linkUnits(ctx, domain.id, units);
    });
    await audit(ctx, {
      action: 'domain.create',
      target: data.name,
      details: { url: data.url, units: data.units, ...movedDetails(moved) },
    });
    return domain;
  });
}

export async function updateDomain(ctx: GatewayContext, name: string, input: unknown): Promise<Domain> {
  const data = parseInput(updateSchema, input);
  assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const { Domain, DomainUnit } = ctx.models;
    const domain = await Domain.findOne({ where: { name }, transaction: ctx.tx });
    if (!domain) throw new NotFoundError(`No domain ${name}`);
    if (data.url && data.url !== domain.url) {
      if (await Domain.findOne({ where: { url: data.url }, transaction: ctx.tx }))
        throw new ConflictError(`URL ${data.url} is in use`);
      domain.url = data.url;
      await domain.save({ transaction: ctx.tx });
    }
    let moved: HomeMoves | null = null;
    if (data.units) {
      const units = await unitsByPaths(ctx, data.units);
      await refuseUnitsServedElsewhere(ctx, domain.id, units);
      moved = await guardHomeMoves(ctx, data.movePeople === true, async () => {
        await DomainUnit.destroy({ where: { domainId: domain.id }, transaction: ctx.tx });
        await linkUnits(ctx, domain.id, units);
      });
    }
    const { movePeople: _, partner: __, ...changes } = data;
    await audit(ctx, { action: 'domain.update', target: name, details: { ...changes, ...movedDetails(moved) } });
    return domain;
  });
}

/**
 * One unit, one domain node: were a unit linked to two domains, its people's IM home would hang on a
 * tie-break the operator never chose. A unit below one another domain serves is fine (the nearest wins).
 * A domain keeps a unit it served before this rule, so that editing it does not fail on an old clash;
 * `atrium domains list` and the console flag such a clash instead (shared-units.ts).
 */
async function refuseUnitsServedElsewhere(
  ctx: GatewayContext,
  domainId: string | null,
  units: { id: string; path: string }[],
): Promise<void> {
  if (units.length === 0) return;
  const links = await ctx.sequelize.query<{ unitId: string; domainId: string; name: string }>(
    `SELECT l.unit_id AS unitId, l.domain_id AS domainId, d.name AS name FROM domain_units l
       JOIN domains d ON d.id = l.domain_id
     WHERE l.unit_id IN (:unitIds) ORDER BY d.name`,
    { replacements: { unitIds: units.map((u) => u.id) }, type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  const keptByThis = new Set(links.filter((l) => l.domainId === domainId).map((l) => l.unitId));
  const taken = units.flatMap((unit) => {
    if (keptByThis.has(unit.id)) return [];
    const others = links.filter((l) => l.unitId === unit.id && l.domainId !== domainId).map((l) => l.name);
    return others.length > 0 ? [`${unit.path} is served by ${others.join(' and ')}`] : [];
  });
  if (taken.length > 0)
    throw new ConflictError(
      `${taken.join('; ')}. A unit is served by one domain node: take it off that domain first, ` +
        'or pick a unit below it (its people go to the nearest unit’s domain).',
    );
}

async function linkUnits(ctx: GatewayContext, domainId: string, units: { id: string }[]): Promise<void> {
  if (units.length === 0) return;
  await ctx.models.DomainUnit.bulkCreate(
    units.map((u) => ({ domainId, unitId: u.id })),
    { transaction: ctx.tx },
  );
}

/** What the audit log keeps of a confirmed move: how many people, from which domain to which. */
function movedDetails(moved: HomeMoves | null): Record<string, unknown> {
  return moved && moved.people > 0 ? { movedPeople: moved.people, moves: moved.moves } : {};
}

export async function listDomains(ctx: GatewayContext): Promise<PresentedDomain[]> {
  const { Domain, DomainUnit, OrgUnit } = ctx.models;
  const [domains, links, units] = await Promise.all([
    Domain.findAll({ order: [['name', 'ASC']], transaction: ctx.tx }),
    DomainUnit.findAll({ transaction: ctx.tx }),
    OrgUnit.findAll({ attributes: ['id', 'path'], transaction: ctx.tx }),
  ]);
  const pathOf = new Map(units.map((u) => [u.id, u.path]));
  return domains.map((d) => ({
    id: d.id,
    name: d.name,
    url: d.url,
    units: links
      .filter((l) => l.domainId === d.id)
      .map((l) => pathOf.get(l.unitId)!)
      .sort(),
  }));
}

export function findDomainByUrl(ctx: GatewayContext, url: string): Promise<Domain | null> {
  const wanted = url.replace(/\/$/, '');
  return remember(ctx, `domain-url:${wanted}`, () => findByColumn(ctx.models.Domain, 'url', wanted, ctx.tx));
}

/**
 * The IM domain that serves a unit: the domain linked to the unit itself or to its nearest ancestor.
 * Returns one entry per input path (null where no domain serves it).
 */
export function domainsServing(ctx: GatewayContext, unitPaths: string[]): Promise<(string | null)[]> {
  return remember(ctx, `serving:${unitPaths.join('\n')}`, () => readDomainsServing(ctx, unitPaths));
}

async function readDomainsServing(ctx: GatewayContext, unitPaths: string[]): Promise<(string | null)[]> {
  const candidates = [...new Set(unitPaths.flatMap(selfAndAncestors))];
  if (candidates.length === 0) return [];
  // One round trip: this runs for every token a person gets for a node.
  const links = await ctx.sequelize.query<{ path: string; name: string }>(
    `SELECT u.path AS path, d.name AS name FROM org_units u
       JOIN domain_units l ON l.unit_id = u.id
       JOIN domains d ON d.id = l.domain_id
     WHERE u.path IN (:candidates) ORDER BY d.name`,
    { replacements: { candidates }, type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  // Two domains serving one unit predate the rule against it (refuseUnitsServedElsewhere): the first by
  // name wins, a choice the operator can read off `atrium domains list`, which flags the clash.
  const domainOfUnitPath = new Map<string, string>();
  for (const link of links) if (!domainOfUnitPath.has(link.path)) domainOfUnitPath.set(link.path, link.name);
  return unitPaths.map(
    (path) =>
      selfAndAncestors(path)
        .map((p) => domainOfUnitPath.get(p))
        .find(Boolean) ?? null,
  );
}
