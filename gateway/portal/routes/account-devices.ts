import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { parseInput } from '../../../core/validate.ts';
import { signOutDevice } from '../../accounts/sign-out-device.ts';
import { listSignedInDevices, type ConsoleSessions, type PortalSessions } from '../../accounts/signed-in-devices.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import type { SessionTagging } from '../session-ids.ts';
import { beforeSecurityPage, type SecuritySectionDeps } from './security-page.ts';
import { serviceName } from '../../place.ts';

export type AccountDevicesDeps = SecuritySectionDeps & {
  tagging: SessionTagging;
  /** How the admin console tags its sessions: a device signed out ends them too, and their use counts as its activity. */
  consoleTagging: SessionTagging;
  /** How long a gateway or portal session lasts past its last use. */
  sessionTtlSeconds: number;
};

const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });
const signOutForm = z.object({ session: z.string().min(1).max(255), understood: z.string().optional() });

/**
 * "Where you are signed in" on `/account/security` (mounted on `/account` with the portal's session,
 * before the page's own routes): the person's signed-in browsers and devices, this one marked, each
 * other one with "Sign out this device". Like "sign out everywhere", signing one out needs the session,
 * the CSRF token and the "I understand" box (the pages run no inline script: the browser asks for the
 * required box, and a post without it is refused), no recent sign-in: it takes access away and gives none.
 */
export function accountDevicesRoutes(deps: AccountDevicesDeps): Router {
  const router = Router();

  // Old portal session ids start with the gateway session's tag alone (session-ids.ts), as single logout finds them.
  const portalOf = (req: Request): PortalSessions => ({
    prefixesOf: (userId, portalSid) => [deps.tagging.prefix(userId, portalSid), deps.tagging.formerPrefix(portalSid)],
    current: req.sessionID,
  });

  const consoleSessions: ConsoleSessions = {
    prefixOf: (userId, consoleSid) => deps.consoleTagging.prefix(userId, consoleSid),
  };

  const locals = async (req: Request, res: Response, next: NextFunction) => {
    try {
      const user = await deps.person(req);
      if (user) {
        const ctx = deps.context(req);
        res.locals.devices = await listSignedInDevices(
          ctx,
          user.id,
          { portal: portalOf(req), consoles: consoleSessions },
          deps.sessionTtlSeconds,
        );
      }
      next();
    } catch (error) {
      next(error);
    }
  };
  beforeSecurityPage(router, locals);

  router.post(
    '/security/devices/sign-out',
    form,
    deps.csrf.check,
    deps.post(async (req, _res, user) => {
      const { session, understood } = parseInput(signOutForm, req.body, 'Choose a device to sign out.');
      if (understood !== 'yes') throw new NotUnderstoodError('sign out that device', 'No device was signed out.');
      const ctx = deps.context(req);
      const { name } = await signOutDevice(ctx, user, session, portalOf(req), consoleSessions);
      return `Signed out ${name}: it is signed out of ${serviceName(ctx.place)} and of its apps, and its open chats were closed.`;
    }, 'devices'),
  );

  return router;
}
