import { Router } from 'express';
import { listAuditEvents } from '../../accounts/list-audit-events.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';

/**
 * The audit log, for full administrators only (see listAuditEvents for why unit admins do not get a
 * filtered view).
 */
export function auditRoutes(kit: ConsoleKit): Router {
  const router = Router();

  router.get('/audit', fullAdminOnly, async (req, res) => {
    const filter = {
      action: typeof req.query.action === 'string' ? req.query.action.trim() : '',
      actor: typeof req.query.actor === 'string' ? req.query.actor.trim() : '',
    };
    const result = await listAuditEvents(kit.context(req), {
      ...filter,
      page: req.query.page,
      pageSize: req.query.pageSize,
    });
    const link = (page: number) => {
      const params = new URLSearchParams();
      if (filter.action) params.set('action', filter.action);
      if (filter.actor) params.set('actor', filter.actor);
      if (typeof req.query.pageSize === 'string') params.set('pageSize', req.query.pageSize);
      params.set('page', String(page));
      return `/admin/audit?${params}`;
    };
    kit.render(req, res, 'audit', {
      title: 'Audit log',
      section: 'audit',
      filter,
      result,
      prev: result.page > 1 ? link(result.page - 1) : null,
      next: result.page < result.pages ? link(result.page + 1) : null,
    });
  });

  return router;
}
