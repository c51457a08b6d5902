import type { NextFunction, Request, Response } from 'express';
import { ForbiddenError } from '../../core/errors.ts';
import { isFullAdmin } from '../accounts/scope.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import { consoleUserOf, renderPage } from './page.ts';

/** What every console route module needs: the use-case context, the page renderer and the CSRF guard. */
export type ConsoleKit = {
  context: (req: Request) => GatewayContext;
  csrf: Csrf;
  render: (req: Request, res: Response, view: string, data: Parameters<typeof renderPage>[4], status?: number) => void;
};

export function createKit(context: (req: Request) => GatewayContext, csrf: Csrf): ConsoleKit {
  return {
    context,
    csrf,
    render: (req, res, view, data, status) => renderPage(csrf, req, res, view, data, status),
  };
}

/**
 * For pages that are not a unit admin's business at all (domains, directories, federation). A unit admin is an
 * administrator too, of their units: the refusal names whom the page is for.
 */
export function fullAdminOnly(req: Request, _res: Response, next: NextFunction): void {
  const user = consoleUserOf(req);
  next(user && isFullAdmin(user) ? undefined : new ForbiddenError('Only campus administrators may open this page.'));
}
