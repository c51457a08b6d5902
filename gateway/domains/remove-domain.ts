import { Op } from 'sequelize';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { pinnedKeysOf } from '../federation/pin-domain.ts';
import { domainTitles } from '../portal/unit-labels.ts';
import { inTransaction } from '../transaction.ts';
import { listDomains } from './domains.ts';
import { guardHomeMoves, type HomeMoves } from './home-moves.ts';

const removeSchema = z.object({ movePeople: z.boolean().optional() });

export type RemovedDomain = { name: string; url: string; moved: HomeMoves; federationPairs: [string, string][] };

/**
 * Forgets an IM domain node: the units it served, its pinned keys and its federation pairs go with it
 * (pairs are kept by name, and a domain added later under the same name must not inherit this one's
 * trust). Nodes and proxies stop routing to it once they read the registry again. Refused while it is
 * the IM home of anyone, unless the move is confirmed (home-moves.ts).
 */
export async function removeDomain(ctx: GatewayContext, name: string, input: unknown = {}): Promise<RemovedDomain> {
  const data = parseInput(removeSchema, input);
  assertFullAdmin(ctx.actor);
  return inTransaction(ctx, async (ctx) => {
    const { Domain, DomainUnit, FederationPair } = ctx.models;
    const domain = await Domain.findOne({ where: { name }, transaction: ctx.tx });
    if (!domain) throw new NotFoundError(`No domain ${name}`);
    const pairsWhere = { [Op.or]: [{ domainA: name }, { domainB: name }] };
    const pairs = await FederationPair.findAll({ where: pairsWhere, transaction: ctx.tx });
    // What it served and what people called it, kept in the audit line: the gateway tells its people, and
    // the other colleges' people writing to them, that this chat was removed (removed-domains.ts).
    const served = (await listDomains(ctx)).find((d) => d.name === name)?.units ?? [];
    const title = (await domainTitles(ctx, [{ name, units: served }])).get(name) ?? name;
    const moved = await guardHomeMoves(ctx, data.movePeople === true, async () => {
      await DomainUnit.destroy({ where: { domainId: domain.id }, transaction: ctx.tx });
      await FederationPair.destroy({ where: pairsWhere, transaction: ctx.tx });
      await domain.destroy({ transaction: ctx.tx });
    });
    const federationPairs = pairs.map((p): [string, string] => [p.domainA, p.domainB]);
    await audit(ctx, {
      action: 'domain.remove',
      target: name,
      details: {
        url: domain.url,
        title,
        units: served,
        pinnedKids: pinnedKeysOf(domain).map((k) => k.kid),
        federationPairs,
        ...(moved.people > 0 ? { movedPeople: moved.people, moves: moved.moves } : {}),
      },
    });
    return { name, url: domain.url, moved, federationPairs };
  });
}
