import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { listAllowedApps, removeAppAccess } from '../../oidc/allowed-apps.ts';
import { beforeSecurityPage, type SecuritySectionDeps } from './security-page.ts';

export type AccountAppsDeps = SecuritySectionDeps;

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

/**
 * "Apps you allowed" on `/account/security` (mounted on `/account` with the portal's session, before the
 * page's own routes): the third-party apps the person allowed on a consent page, each with "Remove
 * access". Removing needs the session and the CSRF token only, no recent sign-in or "confirm it is you",
 * as signing out everywhere: it takes access away and gives none, so whoever finds a session open can do
 * the person no harm with it that the next sign-in to the app (which asks again) does not undo.
 */
export function accountAppsRoutes(deps: AccountAppsDeps): Router {
  const router = Router();

  const locals = async (req: Request, res: Response, next: NextFunction) => {
    try {
      const user = await deps.person(req);
      if (user) res.locals.allowedApps = await listAllowedApps(deps.context(req), user.id);
      next();
    } catch (error) {
      next(error);
    }
  };
  beforeSecurityPage(router, locals);

  router.post(
    '/security/apps/remove',
    form,
    deps.csrf.check,
    deps.post(async (req, _res, user) => {
      const client = (req.body as Record<string, unknown>).client;
      const removed = await removeAppAccess(deps.context(req), user, typeof client === 'string' ? client : '');
      return `${removed.name} no longer has access to your account; it will ask you again if you sign in to it.`;
    }, 'apps'),
  );

  return router;
}
