import { Router, type Request } from 'express';
import { AUDIT_FILTER_MAX, listAuditEvents } from '../../accounts/list-audit-events.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { pageRequest, readPageAsked } from '../paging.ts';

type Filter = { action: string; actor: string; target: string };

/**
 * The filters as the address gives them. One too long to be an action, a username or a target (a
 * hand-edited address) filters nothing, and the page says so, rather than show an error page that names
 * none of them.
 */
function filterOf(req: Request): { filter: Filter; notices: string[] } {
  const filter: Filter = { action: '', actor: '', target: '' };
  const notices: string[] = [];
  for (const name of ['action', 'actor', 'target'] as const) {
    const raw = req.query[name];
    const value = typeof raw === 'string' ? raw.trim() : '';
    if (value.length <= AUDIT_FILTER_MAX[name]) filter[name] = value;
    else
      notices.push(
        `${name === 'target' ? 'A' : 'An'} ${name} has at most ${AUDIT_FILTER_MAX[name]} characters, so “${value.slice(0, 20)}…” filters nothing: every ${name} is shown.`,
      );
  }
  return { filter, notices };
}

/**
 * The audit log, for full administrators only (see listAuditEvents for why unit admins do not get a
 * filtered view). Paged as the users list is: a page that is no number, or past the last, is said so.
 */
export function auditRoutes(kit: ConsoleKit): Router {
  const router = Router();

  router.get('/audit', fullAdminOnly, async (req, res) => {
    const { filter, notices } = filterOf(req);
    const asked = pageRequest(req.query);
    const { result, notice } = await readPageAsked(asked, (page) =>
      listAuditEvents(kit.context(req), { ...filter, page, pageSize: asked.pageSize }),
    );
    const link = (page: number) => {
      const params = new URLSearchParams();
      if (filter.action) params.set('action', filter.action);
      if (filter.actor) params.set('actor', filter.actor);
      if (filter.target) params.set('target', filter.target);
      if (asked.pageSize !== undefined) params.set('pageSize', String(asked.pageSize));
      params.set('page', String(page));
      return `/admin/audit?${params}`;
    };
    kit.render(req, res, 'audit', {
      title: 'Audit log',
      section: 'audit',
      filter,
      result,
      pageNotice: [...notices, notice].filter(Boolean).join(' ') || null,
      prev: result.page > 1 ? link(result.page - 1) : null,
      next: result.page < result.pages ? link(result.page + 1) : null,
    });
  });

  return router;
}
