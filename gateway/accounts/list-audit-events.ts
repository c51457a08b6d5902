import { Op, type WhereOptions } from 'sequelize';
import { z } from 'zod';
import { parseInput } from '../../core/validate.ts';
import type { GatewayContext } from '../context.ts';
import type { AuditEvent } from '../models/index.ts';
import { assertFullAdmin } from './scope.ts';

const querySchema = z.object({
  action: z.string().trim().max(64).optional().default(''),
  actor: z.string().trim().max(200).optional().default(''),
  page: z.coerce.number().int().min(1).max(100_000).optional().default(1),
  pageSize: z.coerce.number().int().min(1).max(200).optional().default(50),
});

export type PresentedAuditEvent = {
  id: number;
  at: string;
  actorName: string | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure';
  ip: string | null;
  details: string | null;
};

export type AuditPage = {
  events: PresentedAuditEvent[];
  page: number;
  pageSize: number;
  total: number;
  pages: number;
  /** Every action the log holds, for a filter's choices. */
  actions: string[];
};

function presentAuditEvent(event: AuditEvent): PresentedAuditEvent {
  return {
    id: Number(event.id),
    at: event.at.toISOString(),
    actorName: event.actorName,
    action: event.action,
    target: event.target,
    outcome: event.outcome,
    ip: event.ip,
    details: event.details,
  };
}

/**
 * The audit log, newest first, filtered by action and by actor (username or id). Full administrators
 * only: entries carry details across units (an edit's before and after, a failed login's typed name),
 * so no filter could promise a unit admin sees nothing from outside their units.
 */
export async function listAuditEvents(ctx: GatewayContext, query: unknown): Promise<AuditPage> {
  assertFullAdmin(ctx.actor);
  const { action, actor, page, pageSize } = parseInput(querySchema, query);
  const { AuditEvent } = ctx.models;
  const where: WhereOptions<AuditEvent>[] = [];
  if (action) where.push({ action });
  if (actor) where.push({ [Op.or]: [{ actorName: actor }, { actorId: actor }] });
  const [{ rows, count }, actions] = await Promise.all([
    AuditEvent.findAndCountAll({
      where: { [Op.and]: where },
      order: [['id', 'DESC']],
      limit: pageSize,
      offset: (page - 1) * pageSize,
      transaction: ctx.tx,
    }),
    AuditEvent.findAll({ attributes: ['action'], group: ['action'], order: [['action', 'ASC']], transaction: ctx.tx }),
  ]);
  return {
    events: rows.map(presentAuditEvent),
    page,
    pageSize,
    total: count,
    pages: Math.max(1, Math.ceil(count / pageSize)),
    actions: actions.map((a) => a.action),
  };
}
