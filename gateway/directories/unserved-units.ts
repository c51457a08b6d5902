import { QueryTypes } from 'sequelize';
import { domainsServing } from '../domains/domains.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory } from '../models/directories.ts';
import { REPORT_LIST_LIMIT } from './sync-report.ts';

/** A unit whose people came from a directory, which no chat domain serves: they have no chat at all. */
export type UnservedUnit = { unit: string; people: number };

/**
 * The units of the directory's active people (their primary unit: their chat home) that no domain serves,
 * with how many people each: they see "Chat is not set up for your account yet" in the portal, which
 * only an administrator can change, and nothing else tells them. One grouped read after a sync.
 */
export async function unservedUnits(ctx: GatewayContext, directory: Directory): Promise<UnservedUnit[]> {
  const rows = await ctx.sequelize.query<{ path: string; people: number | string }>(
    `SELECT u.path AS path, COUNT(*) AS people FROM directory_accounts a
       JOIN users p ON p.id = a.user_id
       JOIN memberships m ON m.user_id = a.user_id AND m.is_primary = :primary
       JOIN org_units u ON u.id = m.unit_id
     WHERE a.directory_id = :directory AND p.status = 'active'
     GROUP BY u.path ORDER BY u.path`,
    { replacements: { directory: directory.id, primary: true }, type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  const served = await domainsServing(
    ctx,
    rows.map((r) => r.path),
  );
  return rows
    .filter((_, i) => served[i] === null)
    .slice(0, REPORT_LIST_LIMIT)
    .map((r) => ({ unit: r.path, people: Number(r.people) }));
}
