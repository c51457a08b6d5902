import { Op, type Sequelize, type WhereOptions } from 'sequelize';
import { z } from 'zod';
import type { GatewayContext } from '../context.ts';
import type { AuditEvent, User } from '../models/index.ts';
import { HISTORY_ACTIONS, HISTORY_WORDS, type Details } from './account-history-words.ts';
import { atSentenceStart } from './device-words.ts';
import { findManageableUser, whyNotManageable } from './find-user.ts';
import { membershipsOf } from './memberships.ts';
import { adminScopeOf, scopeCovers, type AdminScope } from './scope.ts';

export const HISTORY_PAGE_SIZE = 20;

export type HistoryEntry = {
  at: string;
  /** What happened to the account, in words (account-history-words.ts); never the recorded details. */
  what: string;
  /** Who did it, as the reader may know them; null where the sentence says it or nobody signed in. */
  by: string | null;
  failed: boolean;
  ip: string | null;
  /** The device a sign-in came from, in words ("Firefox on Windows"); null for other entries and older ones. */
  device: string | null;
  /** Until when a lockout lasts or a new account's link works, for the page to show in the reader's time zone. */
  until: string | null;
};

export type AccountHistory = { entries: HistoryEntry[]; page: number; pages: number; total: number };

const pageSchema = z.coerce.number().int().min(1).max(100_000).catch(1);

// Refusals at sign-in are recorded with the person as actor (or nobody): "by them" would say they tried.
const UNATTRIBUTED = new Set([
  'login',
  'login.second_factor',
  'account.locked',
  'passkey.counter_regression',
  'logout',
]);

/** The name a failed sign-in recorded for the account it named, when what was typed was not its username. */
function accountNamed(sequelize: Sequelize) {
  return sequelize.literal(
    sequelize.getDialect() === 'sqlite'
      ? `CASE WHEN json_valid(details) THEN json_extract(details, '$.account') END`
      : `JSON_VALUE(details, '$.account')`,
  );
}

/**
 * The entries about this person: those whose target is their username (or their id, for a sign-out the
 * provider records), and the sign-ins refused under their email or directory name that the gateway
 * recorded as theirs. Only since the account was made: a name refused before it existed was nobody's.
 */
async function historyWhere(ctx: GatewayContext, user: User): Promise<WhereOptions<AuditEvent>> {
  const link = await ctx.models.DirectoryAccount.findOne({ where: { userId: user.id }, transaction: ctx.tx });
  const own = [user.username, user.id];
  const aliases = [user.email.toLowerCase(), ...(link?.directoryUsername ? [link.directoryUsername] : [])];
  return {
    [Op.and]: [
      { target: { [Op.in]: [...own, ...aliases] } },
      { action: { [Op.in]: HISTORY_ACTIONS } },
      { at: { [Op.gte]: user.createdAt } },
      {
        [Op.or]: [
          { target: { [Op.in]: own } },
          { [Op.and]: [{ action: 'login' }, ctx.sequelize.where(accountNamed(ctx.sequelize), user.username)] },
        ],
      },
    ],
  };
}

/**
 * Which actors a unit admin may read the usernames of: the people they manage (a colleague of their own
 * helpdesk, themselves). Anyone else is "an administrator" to them (a campus administrator, another
 * college's admin): the console shows them those usernames nowhere else, and who in central IT acted is
 * theirs to ask of a campus administrator. A campus administrator reads every username.
 */
export async function actorNames(ctx: GatewayContext, scope: AdminScope, events: AuditEvent[]): Promise<Set<string>> {
  if (scope.all) return new Set();
  const ids = [...new Set(events.flatMap((e) => (e.actorId ? [e.actorId] : [])))];
  if (ids.length === 0) return new Set();
  const [users, memberships] = await Promise.all([
    ctx.models.User.findAll({ attributes: ['id', 'roles'], where: { id: { [Op.in]: ids } }, transaction: ctx.tx }),
    membershipsOf(ctx, ids),
  ]);
  const named = users.filter((u) => {
    const paths = (memberships.get(u.id) ?? []).map((m) => m.unit.path);
    return paths.some((p) => scopeCovers(scope, p)) && whyNotManageable(scope, paths, u.roles) === null;
  });
  return new Set(named.map((u) => u.id));
}

function byWhom(ctx: GatewayContext, user: User, event: AuditEvent, named: Set<string>, scope: AdminScope) {
  if (UNATTRIBUTED.has(event.action)) return null;
  if (event.actorId === user.id) return 'themselves';
  if (event.actorId && (scope.all || named.has(event.actorId))) return event.actorName;
  if (ctx.actor.kind === 'user' && event.actorId === ctx.actor.id) return 'you';
  if (event.actorId) return 'an administrator';
  if (event.actorName === null) return null;
  if (event.actorName.startsWith('directory-')) return 'their directory';
  if (event.actorName === 'gateway') return 'Atrium itself';
  return scope.all ? `the operator (${event.actorName})` : 'the operator';
}

/** Until when a lockout lasts, or a new account's mailed link works (shown after the words). */
function untilOf(event: AuditEvent, details: Details): string | null {
  if (event.action === 'account.locked') return typeof details.until === 'string' ? details.until : null;
  if (event.action === 'password_reset.request' && event.outcome === 'success' && details.newAccount === true)
    return typeof details.expiresAt === 'string' ? details.expiresAt : null;
  return null;
}

function parsed(details: string | null): Details {
  try {
    const value: unknown = details === null ? {} : JSON.parse(details);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Details) : {};
  } catch {
    return {};
  }
}

/**
 * One entry about `user` in the words of their account history, for a reader of `scope` (`named`: the
 * actors they may read the usernames of, from actorNames). Only an action of HISTORY_ACTIONS has words.
 */
export function historyEntry(
  ctx: GatewayContext,
  scope: AdminScope,
  user: User,
  event: AuditEvent,
  named: Set<string>,
): HistoryEntry {
  const details = parsed(event.details);
  return {
    at: event.at.toISOString(),
    what: HISTORY_WORDS[event.action]!(details, event.outcome, (path) => scopeCovers(scope, path)),
    by: byWhom(ctx, user, event, named, scope),
    failed: event.outcome === 'failure',
    ip: event.ip,
    device: typeof details.device === 'string' ? atSentenceStart(details.device) : null,
    until: untilOf(event, details),
  };
}

/**
 * A person's account history, newest first, a page of 20 at a time, for whoever may manage them (the
 * same refusal as their console page). Each entry in words from the fields about them alone: of units,
 * only those the reader administers are named. No recorded details are shown as such.
 */
export async function accountHistory(ctx: GatewayContext, userId: string, page: unknown): Promise<AccountHistory> {
  const { user } = await findManageableUser(ctx, userId);
  const scope = adminScopeOf(ctx.actor);
  const where = await historyWhere(ctx, user);
  const total = await ctx.models.AuditEvent.count({ where, transaction: ctx.tx });
  const pages = Math.max(1, Math.ceil(total / HISTORY_PAGE_SIZE));
  const shownPage = Math.min(pageSchema.parse(page ?? 1), pages);
  const events = await ctx.models.AuditEvent.findAll({
    where,
    order: [
      ['at', 'DESC'],
      ['id', 'DESC'],
    ],
    limit: HISTORY_PAGE_SIZE,
    offset: (shownPage - 1) * HISTORY_PAGE_SIZE,
    transaction: ctx.tx,
  });
  const named = await actorNames(ctx, scope, events);
  const entries = events.map((event) => historyEntry(ctx, scope, user, event, named));
  return { entries, page: shownPage, pages, total };
}
