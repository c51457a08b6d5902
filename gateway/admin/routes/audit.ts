import { Router, type Request } from 'express';
import { ForbiddenError } from '../../../core/errors.ts';
import { AUDIT_FILTER_MAX, listAuditEvents } from '../../accounts/list-audit-events.ts';
import { canAdminister, isFullAdmin } from '../../accounts/scope.ts';
import { listUnitActivity } from '../../accounts/unit-activity.ts';
import type { ConsoleKit } from '../kit.ts';
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
 * The audit log. A campus administrator reads every entry with its recorded details; a unit admin reads
 * what happened to the accounts of the people they manage, in the words of each one's account history
 * (unit-activity.ts). Paged as the users list is: a page that is no number, or past the last, is said so.
 */
export function auditRoutes(kit: ConsoleKit): Router {
  const router = Router();

  router.get('/audit', async (req, res) => {
    const ctx = kit.context(req);
    if (!canAdminister(ctx.actor)) throw new ForbiddenError('Only administrators may open this page.');
    const full = isFullAdmin(ctx.actor);
    const { filter, notices } = filterOf(req);
    const asked = pageRequest(req.query);
    const read = (page: number) => {
      const query = { ...filter, page, pageSize: asked.pageSize };
      return full ? listAuditEvents(ctx, query) : listUnitActivity(ctx, query);
    };
    const { result, notice } = await readPageAsked<Awaited<ReturnType<typeof read>>>(asked, read);
    const link = (page: number) => {
      const params = new URLSearchParams();
      if (filter.action) params.set('action', filter.action);
      if (filter.actor) params.set('actor', filter.actor);
      if (filter.target) params.set('target', filter.target);
      if (asked.pageSize !== undefined) params.set('pageSize', String(asked.pageSize));
      params.set('page', String(page));
      return `/admin/audit?${params}`;
    };
    const refused = 'refused' in result ? result.refused : null;
    kit.render(req, res, 'audit', {
      title: 'Audit log',
      section: 'audit',
      unitView: !full,
      filter,
      result,
      refused,
      pageNotice: [...notices, notice].filter(Boolean).join(' ') || null,
      prev: result.page > 1 ? link(result.page - 1) : null,
      next: result.page < result.pages ? link(result.page + 1) : null,
    });
  });

  return router;
}
