import { QueryTypes } from 'sequelize';
import { AppError, ValidationError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import { domainsServing } from '../domains/domains.ts';
import type { User } from '../models/index.ts';
import { membershipsOf } from './memberships.ts';
import { unitsByPaths } from './units.ts';

/** What new units do to one person's chat: the domains they lose, and their IM home before and after. */
export type ChatMove = { person: string; leaves: string[]; from: string | null; to: string | null };

/**
 * New units that take a person off a domain they chat on: its node keeps their direct conversations, which
 * they can no longer reach (the portal connects only to the domains serving their units); their groups
 * follow them to where they chat now, if anywhere (that node tells each group's home). Repeating the change
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
  // Groups follow them to where they chat now (node/conversations/moved-members.ts); direct chats do not.
  const stay =
    to === null
      ? 'their conversations there stay on its node, out of their reach.'
      : 'their direct conversations there stay on its node, out of their reach; their groups follow them.';
  return `This takes ${person} off ${leaves.join(' and ')}: ${stay}${home} To go ahead, ${confirm}.`;
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

/** What new units (`paths`, the primary first) would do to the person's chat; null when they leave no domain. */
export async function chatMoveOf(ctx: GatewayContext, user: User, paths: string[]): Promise<ChatMove | null> {
  const known = await unitsByPaths(ctx, paths).then(
    () => true,
    (error: unknown) => {
      if (error instanceof ValidationError) return false;
      throw error;
    },
  );
  if (!known) return null;
  const current = ((await membershipsOf(ctx, [user.id])).get(user.id) ?? []).map((m) => m.unit.path);
  const { leaves, from, to } = await domainsLeft(ctx, current, paths);
  if (leaves.length === 0) return null;
  return { person: `${user.displayName} (${user.username})`, leaves, from, to };
}

/** The domains serving units of `before` and none of `after` (unit paths, the primary first), and the homes. */
async function domainsLeft(ctx: GatewayContext, before: string[], after: string[]) {
  const was = await domainsServing(ctx, before);
  const will = await domainsServing(ctx, after);
  const now = new Set(will.filter((d): d is string => d !== null));
  const leaves = [...new Set(was.filter((d): d is string => d !== null && !now.has(d)))];
  return { leaves, from: was[0] ?? null, to: will[0] ?? null };
}

/**
 * A directory sync that changes a person's units (`unitIds`, the new ones) does not ask: the directory
 * decides. The domains it takes them off end their access there, as a confirmed move does. Runs before
 * the memberships are replaced.
 */
export async function endAccessOnDomainsLeft(ctx: GatewayContext, user: User, unitIds: string[]): Promise<void> {
  const rows = await ctx.sequelize.query<{ path: string; isPrimary: number | boolean }>(
    `SELECT u.path AS path, m.is_primary AS isPrimary FROM memberships m JOIN org_units u ON u.id = m.unit_id
      WHERE m.user_id = :userId`,
    { replacements: { userId: user.id }, type: QueryTypes.SELECT, transaction: ctx.tx },
  );
  const before = rows.sort((a, b) => Number(Boolean(b.isPrimary)) - Number(Boolean(a.isPrimary))).map((r) => r.path);
  const units = await ctx.models.OrgUnit.findAll({ where: { id: unitIds }, transaction: ctx.tx });
  const after = unitIds.map((id) => units.find((u) => u.id === id)?.path).filter((p): p is string => p !== undefined);
  const { leaves } = await domainsLeft(ctx, before, after);
  if (leaves.length > 0) await endAccessOnDomains(ctx, user, leaves);
}
