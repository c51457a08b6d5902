import { Op, QueryTypes } from 'sequelize';
import { like, prefixPattern } from '../../core/like.ts';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import type { AuditEvent, User } from '../models/index.ts';
import { actorNames, historyEntry, type HistoryEntry } from './account-history.ts';
import { HISTORY_ACTIONS } from './account-history-words.ts';
import { whyNotManageable } from './find-user.ts';
import { auditQuerySchema } from './list-audit-events.ts';
import { membershipsOf } from './memberships.ts';
import { adminScopeOf, scopeCovers, type AdminScope } from './scope.ts';

/** One entry of the activity of a unit admin's people: whom it is about, and what happened in their words. */
export type ActivityEntry = HistoryEntry & { person: { id: string; username: string; displayName: string } };

export type ActivityPage = {
  events: ActivityEntry[];
  page: number;
  pageSize: number;
  total: number;
  pages: number;
  /** The actions a filter may choose: those of an account history. */
  actions: string[];
  /** Why a filter shows nothing: it names someone the reader does not manage (or nobody). */
  refused: string | null;
};

const ACTIONS = [...HISTORY_ACTIONS].sort();

/** The units of the scope by id: a campus holds hundreds of units at most, unlike its people. */
async function scopeUnitIds(ctx: GatewayContext, roots: string[]): Promise<string[]> {
  if (roots.length === 0) return [];
  const units = await ctx.models.OrgUnit.findAll({
    attributes: ['id'],
    where: {
      [Op.or]: roots.flatMap((root) => [{ path: root }, { path: like(ctx.sequelize, prefixPattern(`${root}/`)) }]),
    },
    transaction: ctx.tx,
  });
  return units.map((u) => u.id);
}

// Whom a unit admin manages (find-user.ts): a unit in the scope, none outside it, no campus
// administrator. Roles are stored sorted and comma-separated (models/accounts.ts); `unit-admin` is not `admin`.
const MANAGED = `NOT (u.roles = 'admin' OR u.roles LIKE 'admin,%' OR u.roles LIKE '%,admin' OR u.roles LIKE '%,admin,%')
  AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.unit_id IN (:units))
  AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.unit_id NOT IN (:units))`;

/**
 * The entries about the people the reader manages, recorded under their username or id (a sign-out the
 * provider records) since their account was made, as their account history takes them. A join on the
 * people, not a list of them: a college of many thousands is never spelled out nor read into memory, and
 * both databases read the entries once (an IN or EXISTS per entry was many times slower on MariaDB, and
 * a correlated IN never ended on SQLite, with 400,000 entries).
 */
const ABOUT_MANAGED = `FROM audit_events e
  JOIN (SELECT u.username AS name, u.created_at AS since FROM users u WHERE ${MANAGED}
        UNION ALL SELECT u.id AS name, u.created_at AS since FROM users u WHERE ${MANAGED}) p
    ON p.name = e.target AND p.since <= e.at
  WHERE e.action IN (:actions)`;

/** What the filters add to ABOUT_MANAGED, with their values. */
type Conditions = { sql: string; values: Record<string, unknown> };

/** The ids of one page of entries, newest first, and how many there are in all. */
async function readPage(
  ctx: GatewayContext,
  unitIds: string[],
  conditions: Conditions,
  page: number,
  pageSize: number,
): Promise<{ ids: number[]; count: number }> {
  const replacements = { units: unitIds, actions: HISTORY_ACTIONS, ...conditions.values };
  const from = `${ABOUT_MANAGED}${conditions.sql}`;
  const options = { replacements, type: QueryTypes.SELECT, transaction: ctx.tx } as const;
  const [counted, rows] = await Promise.all([
    ctx.sequelize.query<{ count: number | string }>(`SELECT COUNT(*) AS count ${from}`, options),
    ctx.sequelize.query<{ id: number | string }>(
      // Newest first by when it happened, as the campus's log (list-audit-events.ts).
      `SELECT e.id AS id ${from} ORDER BY e.at DESC, e.id DESC LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
      options,
    ),
  ]);
  return { ids: rows.map((r) => Number(r.id)), count: Number(counted[0]?.count ?? 0) };
}

/** Someone named in a filter, when the reader manages them; else null, whoever they are or not. */
async function managedPerson(ctx: GatewayContext, scope: AdminScope, name: string): Promise<User | null> {
  const user = await ctx.models.User.findOne({
    where: { [Op.or]: [{ id: name }, { username: name.toLowerCase() }] },
    transaction: ctx.tx,
  });
  if (!user) return null;
  const paths = ((await membershipsOf(ctx, [user.id])).get(user.id) ?? []).map((m) => m.unit.path);
  const managed = paths.some((p) => scopeCovers(scope, p)) && whyNotManageable(scope, paths, user.roles) === null;
  return managed ? user : null;
}

type Filter = { action: string; actor: string; target: string };

/**
 * The filters as conditions of the query. A person or an actor the reader does not manage filters to
 * nothing, and says so the same way whether they exist or not: their entries are not the reader's to see,
 * and an actor they do not manage is "an administrator" to them, so a filter by one must not tell who
 * acted either.
 */
async function filterConditions(
  ctx: GatewayContext,
  scope: AdminScope,
  filter: Filter,
): Promise<{ conditions: Conditions; refused: string | null }> {
  const conditions: Conditions = { sql: '', values: {} };
  if (filter.action) {
    conditions.sql += ' AND e.action = :action';
    conditions.values.action = filter.action;
  }
  if (filter.target) {
    const person = await managedPerson(ctx, scope, filter.target);
    if (!person)
      return { conditions, refused: `No one you manage is called “${filter.target}”, so no entries are shown.` };
    conditions.sql += ' AND e.target IN (:person)';
    conditions.values.person = [person.username, person.id];
  }
  if (filter.actor) {
    const self = ctx.actor.kind === 'user' && [ctx.actor.id, ctx.actor.name].includes(filter.actor) ? ctx.actor : null;
    const person = self ? null : await managedPerson(ctx, scope, filter.actor);
    if (!self && !person)
      return {
        conditions,
        refused: `No one you manage is called “${filter.actor}”: other administrators show as “an administrator”, so no entries are shown.`,
      };
    conditions.sql += ' AND e.actor_id = :actorId';
    conditions.values.actorId = self?.id ?? person!.id;
  }
  return { conditions, refused: null };
}

/** The people a page of entries is about, by username and by id (targets hold either). */
async function peopleOf(ctx: GatewayContext, events: AuditEvent[]): Promise<Map<string, User>> {
  const targets = [...new Set(events.flatMap((e) => (e.target ? [e.target] : [])))];
  if (targets.length === 0) return new Map();
  const users = await ctx.models.User.findAll({
    where: { [Op.or]: [{ username: { [Op.in]: targets } }, { id: { [Op.in]: targets } }] },
    transaction: ctx.tx,
  });
  return new Map(users.flatMap((u) => [[u.username, u] as const, [u.id, u] as const]));
}

/**
 * A unit admin's audit log: what happened to the accounts of the people they manage, newest first, each
 * entry in the words of the person's account history (never its recorded details), filtered by action,
 * by the person and by who did it. Entries about anyone else, or about apps, domains, directories,
 * federation and the campus's settings, are not theirs to read.
 */
export async function listUnitActivity(ctx: GatewayContext, query: unknown): Promise<ActivityPage> {
  const { action, actor, target, page, pageSize } = parseInput(auditQuerySchema, query);
  const scope = adminScopeOf(ctx.actor);
  const empty = { events: [], page: 1, pageSize, total: 0, pages: 1, actions: ACTIONS };
  const unitIds = scope.all ? [] : await scopeUnitIds(ctx, scope.roots);
  if (scope.all || unitIds.length === 0) return { ...empty, refused: null };
  const { conditions, refused } = await filterConditions(ctx, scope, { action, actor, target });
  if (refused) return { ...empty, refused };
  const { ids, count } = await readPage(ctx, unitIds, conditions, page, pageSize);
  const found = await ctx.models.AuditEvent.findAll({ where: { id: { [Op.in]: ids } }, transaction: ctx.tx });
  const byId = new Map(found.map((e) => [Number(e.id), e]));
  const rows = ids.flatMap((id) => byId.get(id) ?? []);
  const [people, named] = await Promise.all([peopleOf(ctx, rows), actorNames(ctx, scope, rows)]);
  const events = rows.flatMap((event) => {
    const person = event.target ? people.get(event.target) : undefined;
    if (!person) return [];
    const { id, username, displayName } = person;
    return [{ ...historyEntry(ctx, scope, person, event, named), person: { id, username, displayName } }];
  });
  return {
    events,
    page,
    pageSize,
    total: count,
    pages: Math.max(1, Math.ceil(count / pageSize)),
    actions: ACTIONS,
    refused: null,
  };
}
