import { QueryTypes } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import { domainsServing } from './domains.ts';

/** People whose IM home domain a change of domains would move, counted per pair of domains. */
export type HomeMoves = {
  people: number;
  moves: { from: string; to: string | null; people: number }[];
};

/**
 * A change of domains refused because it would move people's IM home: their chat would go to another
 * node (or to none) while their history stays on the old one. Repeating it with the confirmation
 * (`movePeople`) goes through.
 */
export class HomeMoveError extends AppError {
  readonly moves: HomeMoves;

  /** `confirm` says how the operator confirms on the transport at hand (a flag, a checkbox). */
  constructor(moves: HomeMoves, confirm = 'confirm moving them to go ahead') {
    super('moves_people', 409, describeMoves(moves, confirm), { ...moves });
    this.moves = moves;
  }
}

function describeMoves({ people, moves }: HomeMoves, confirm: string): string {
  const parts = moves.map((m) => `${m.people} from ${m.from} to ${m.to ?? 'no domain (no chat home at all)'}`);
  return (
    `This would change the IM home domain of ${people} ${people === 1 ? 'person' : 'people'} ` +
    `(${parts.join('; ')}). Their chat history stays on the old node; ${confirm}.`
  );
}

type PrimaryRow = { userId: string; isPrimary: number | boolean; path: string };

/** Every person's IM home domain, as their claims name it (account-claims.ts: the one serving their primary unit). */
async function homeDomains(ctx: GatewayContext): Promise<Map<string, string | null>> {
  const rows = await ctx.sequelize.query<PrimaryRow>(
    `SELECT m.user_id AS userId, m.is_primary AS isPrimary, u.path AS path
       FROM memberships m JOIN org_units u ON u.id = m.unit_id`,
    { type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  // The primary unit, else the first path: the order membershipsOf gives the claims.
  const first = new Map<string, PrimaryRow>();
  for (const row of rows) {
    const known = first.get(row.userId);
    const rank = (r: PrimaryRow) => Number(!r.isPrimary);
    if (!known || rank(row) < rank(known) || (rank(row) === rank(known) && row.path.localeCompare(known.path) < 0))
      first.set(row.userId, row);
  }
  const paths = [...new Set([...first.values()].map((r) => r.path))];
  const served = await domainsServing(ctx, paths);
  const domainOf = new Map(paths.map((p, i) => [p, served[i] ?? null]));
  return new Map([...first].map(([userId, row]) => [userId, domainOf.get(row.path) ?? null]));
}

/**
 * Runs `change` (in the caller's transaction) and counts whose home domain it moved. A person without a
 * home before does not count: they gain a home and leave no history behind. Unless `confirmed`, a change
 * that moves anyone is refused with the counts, which rolls it back with the transaction.
 */
export async function guardHomeMoves(
  ctx: GatewayContext,
  confirmed: boolean,
  change: () => Promise<void>,
): Promise<HomeMoves> {
  if (!ctx.tx) throw new Error('guardHomeMoves runs inside a transaction');
  const before = await homeDomains(ctx);
  await change();
  const after = await homeDomains(ctx);
  const counts = new Map<string, { from: string; to: string | null; people: number }>();
  for (const [userId, from] of before) {
    const to = after.get(userId) ?? null;
    if (from === null || from === to) continue;
    const key = `${from}\n${to ?? ''}`;
    const entry = counts.get(key) ?? { from, to, people: 0 };
    entry.people += 1;
    counts.set(key, entry);
  }
  const moves = [...counts.values()].sort((a, b) => b.people - a.people || a.from.localeCompare(b.from));
  const result = { people: moves.reduce((n, m) => n + m.people, 0), moves };
  if (result.people > 0 && !confirmed) throw new HomeMoveError(result);
  return result;
}
