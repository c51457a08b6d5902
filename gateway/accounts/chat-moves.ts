import { AppError, ValidationError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import { domainsServing } from '../domains/domains.ts';
import type { User } from '../models/index.ts';
import { membershipsOf } from './memberships.ts';
import { unitsByPaths } from './units.ts';

/** What new units do to one person's chat: the domains they lose, and their IM home before and after. */
export type ChatMove = { person: string; leaves: string[]; from: string | null; to: string | null };

/**
 * New units that take a person off a domain they chat on: its node keeps their conversations, which they
 * can no longer reach (the portal connects only to the domains serving their units). Repeating the change
 * with the confirmation (`moveChat`) goes through. A new primary unit that moves only their IM home, the
 * old domain still theirs, loses nothing and is not refused.
 */
export class ChatMoveError extends AppError {
  readonly move: ChatMove;

  /** `confirm` says how the operator confirms on the transport at hand. */
  constructor(move: ChatMove, confirm = 'confirm moving their chat to go ahead') {
    super('moves_chat', 409, describeChatMove(move, confirm), { ...move });
    this.move = move;
  }
}

function describeChatMove({ person, leaves, from, to }: ChatMove, confirm: string): string {
  const home = to === null ? ' They would have no chat at all.' : to !== from ? ` Their chat home becomes ${to}.` : '';
  return (
    `This takes ${person} off ${leaves.join(' and ')}: their conversations there stay on its node, ` +
    `out of their reach.${home} To go ahead, ${confirm}.`
  );
}

/**
 * Refuses, unless `confirmed`, new units (`paths`, the primary first) that take the person off a domain
 * serving their units now; once confirmed, ends their access on those domains. Unknown units are left
 * to setMemberships to name. Runs in the change's transaction, before it.
 */
export async function refuseChatMove(
  ctx: GatewayContext,
  user: User,
  paths: string[],
  confirmed: boolean,
): Promise<ChatMove | null> {
  const move = await chatMoveOf(ctx, user, paths);
  if (!move) return null;
  if (!confirmed) throw new ChatMoveError(move);
  await endAccessOnDomains(ctx, user, move.leaves);
  return move;
}

/**
 * The nodes of the domains left end the person's sockets there and refuse the access tokens they hold
 * for them (issued until now, valid up to an hour), told with the other ended access (gateway/oidc/
 * ended-access.ts). Their gateway session, their apps and their other domains go on.
 */
async function endAccessOnDomains(ctx: GatewayContext, user: User, domains: string[]): Promise<void> {
  const endedAt = new Date();
  await ctx.models.EndedAccess.bulkCreate(
    domains.map((domain) => ({ kind: 'sub' as const, subject: user.id, endedAt, domain })),
    { transaction: ctx.tx },
  );
}

async function chatMoveOf(ctx: GatewayContext, user: User, paths: string[]): Promise<ChatMove | null> {
  const known = await unitsByPaths(ctx, paths).then(
    () => true,
    (error: unknown) => {
      if (error instanceof ValidationError) return false;
      throw error;
    },
  );
  if (!known) return null;
  const current = ((await membershipsOf(ctx, [user.id])).get(user.id) ?? []).map((m) => m.unit.path);
  const before = await domainsServing(ctx, current);
  const after = await domainsServing(ctx, paths);
  const now = new Set(after.filter((d): d is string => d !== null));
  const leaves = [...new Set(before.filter((d): d is string => d !== null && !now.has(d)))];
  if (leaves.length === 0) return null;
  return { person: `${user.displayName} (${user.username})`, leaves, from: before[0] ?? null, to: after[0] ?? null };
}
