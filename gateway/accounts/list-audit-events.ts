import { Op, type Sequelize, type WhereOptions } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import type { AuditEvent } from '../models/index.ts';
import { presentAuditEvents, type PresentedAuditEvent } from './present-audit-event.ts';
import { assertFullAdmin } from './scope.ts';

export type { PresentedAuditEvent } from './present-audit-event.ts';

/**
 * The longest action, actor and target a filter takes: an action's name, a username or a user id, and
 * anything an entry can concern (as long as the target column holds).
 */
export const AUDIT_FILTER_MAX = { action: 64, actor: 200, target: 255 } as const;

/** An audit page's filters and paging as the address gives them (the campus's log and a unit admin's alike). */
export const auditQuerySchema = z.object({
  action: z.string().trim().max(AUDIT_FILTER_MAX.action).optional().default(''),
  actor: z.string().trim().max(AUDIT_FILTER_MAX.actor).optional().default(''),
  target: z.string().trim().max(AUDIT_FILTER_MAX.target).optional().default(''),
  page: z.coerce.number().int().min(1).max(100_000).optional().default(1),
  pageSize: z.coerce.number().int().min(1).max(200).optional().default(50),
});

export type AuditPage = {
  events: PresentedAuditEvent[];
  page: number;
  pageSize: number;
  total: number;
  pages: number;
  /** Every action the log holds, and the status changes edits made, for a filter's choices. */
  actions: string[];
};

/** A field of the recorded details, as text (a cast to text of a JSON string value). */
function detail(sequelize: Sequelize, path: '$.before.status' | '$.changes.status') {
  return sequelize.literal(
    sequelize.getDialect() === 'sqlite'
      ? `CASE WHEN json_valid(details) THEN json_extract(details, '${path}') END`
      : `JSON_VALUE(details, '${path}')`,
  );
}

/**
 * Disabling or enabling someone in the console or with `users disable` is recorded as the edit it is
 * (`user.update`, its status before and the status asked); a directory sync records `user.disable`.
 * Either is found by the one action.
 */
function actionWhere(sequelize: Sequelize, action: string): WhereOptions<AuditEvent> {
  const status = { 'user.disable': 'disabled', 'user.enable': 'active' }[action];
  if (!status) return { action };
  const before = sequelize.fn('COALESCE', detail(sequelize, '$.before.status'), '');
  return {
    [Op.or]: [
      { action },
      {
        [Op.and]: [
          { action: 'user.update' },
          sequelize.where(detail(sequelize, '$.changes.status'), status),
          status === 'disabled'
            ? sequelize.where(before, { [Op.ne]: 'disabled' })
            : sequelize.where(before, 'disabled'),
        ],
      },
    ],
  };
}

/**
 * Entries concerning `target`, exactly as recorded (a username, an app's slug, a unit's path, a domain).
 * A few record a person by their id (a sign-out the provider records), which the log shows as their
 * username: a username finds those too.
 */
async function targetWhere(ctx: GatewayContext, target: string): Promise<WhereOptions<AuditEvent>> {
  const user = await ctx.models.User.findOne({
    attributes: ['id'],
    where: { username: target },
    transaction: ctx.tx,
  });
  return { target: user ? { [Op.in]: [target, user.id] } : target };
}

/**
 * The audit log, newest first, filtered by action, by actor (username or id) and by target. Full
 * administrators only: entries carry details across units (an edit's before and after, a failed login's
 * typed name), so no filter could promise a unit admin sees nothing from outside their units. A unit admin
 * reads the entries about the people they manage, in words, instead (unit-activity.ts).
 */
export async function listAuditEvents(ctx: GatewayContext, query: unknown): Promise<AuditPage> {
  assertFullAdmin(ctx.actor);
  const { action, actor, target, page, pageSize } = parseInput(auditQuerySchema, query);
  const { AuditEvent } = ctx.models;
  const where: WhereOptions<AuditEvent>[] = [];
  if (action) where.push(actionWhere(ctx.sequelize, action));
  if (actor) where.push({ [Op.or]: [{ actorName: actor }, { actorId: actor }] });
  if (target) where.push(await targetWhere(ctx, target));
  const [{ rows, count }, actions] = await Promise.all([
    AuditEvent.findAndCountAll({
      where: { [Op.and]: where },
      // Newest first by when it happened: an entry may be written after a later one (its writer waited
      // for another's transaction), so the order of ids is not quite the order of times.
      order: [
        ['at', 'DESC'],
        ['id', 'DESC'],
      ],
      limit: pageSize,
      offset: (page - 1) * pageSize,
      transaction: ctx.tx,
    }),
    AuditEvent.findAll({ attributes: ['action'], group: ['action'], order: [['action', 'ASC']], transaction: ctx.tx }),
  ]);
  const recorded = actions.map((a) => a.action);
  const choices = recorded.includes('user.update') ? [...recorded, 'user.disable', 'user.enable'] : recorded;
  return {
    events: await presentAuditEvents(ctx, rows),
    page,
    pageSize,
    total: count,
    pages: Math.max(1, Math.ceil(count / pageSize)),
    actions: [...new Set(choices)].sort(),
  };
}
