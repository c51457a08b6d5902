import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { parseInput } from '../../../core/validate.ts';
import { signOutDeviceOf } from '../../accounts/sign-out-device.ts';
import {
  listSignedInDevices,
  type ConsoleSessions,
  type PortalSessions,
  type SignedInDevice,
} from '../../accounts/signed-in-devices.ts';
import type { GatewayContext } from '../../context.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import { serviceName } from '../../place.ts';
import type { SessionTagging } from '../../portal/session-ids.ts';
import { bodyOf, formBody, formFailure, type FormFailure } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

/** How the portal and the console tag their sessions, and how long a session lasts past its last use. */
export type DeviceSessions = { portal: SessionTagging; console: SessionTagging; sessionTtlSeconds: number };

/**
 * The person's sessions as their own account page finds them (account-devices.ts), but from the console: no
 * portal session asks, so no device is "this device".
 */
function sessionsOf(tags: DeviceSessions): { portal: PortalSessions; consoles: ConsoleSessions } {
  return {
    portal: {
      prefixesOf: (userId, portalSid) => [tags.portal.prefix(userId, portalSid), tags.portal.formerPrefix(portalSid)],
      current: '',
    },
    consoles: { prefixOf: (userId, consoleSid) => tags.console.prefix(userId, consoleSid) },
  };
}

/** The person's signed-in browsers and devices, the same facts as on their own account page. */
export function devicesOf(ctx: GatewayContext, userId: string, tags: DeviceSessions): Promise<SignedInDevice[]> {
  return listSignedInDevices(ctx, userId, sessionsOf(tags), tags.sessionTtlSeconds);
}

const signOutForm = z.object({ session: z.string().min(1).max(255), understood: z.string().optional() });

/** Draws the person's page again, saying why no device was signed out in its "Signed-in devices" section. */
type RenderPerson = (
  req: Request,
  res: Response,
  userId: string,
  state: { devicesFailure: FormFailure },
) => Promise<void>;

/**
 * "Sign out this device" on a person's console page, for whoever may sign them out everywhere: one
 * browser or device of theirs is signed out of the gateway, its apps and its chats, as when the person
 * does it on their account page (sign-out-device.ts), audited with the administrator as actor. Only with
 * its "I understand" box ticked; a device signed out meanwhile is said so, and nothing changes.
 */
export function deviceSignOutRoute(
  router: Router,
  kit: ConsoleKit,
  tags: DeviceSessions,
  renderPerson: RenderPerson,
): void {
  router.post('/users/:id/device-sign-out', formBody, kit.csrf.check, async (req, res) => {
    const id = String(req.params.id);
    try {
      const { session, understood } = parseInput(signOutForm, bodyOf(req), 'Choose a device to sign out.');
      if (understood !== 'yes') throw new NotUnderstoodError('sign out that device', 'No device was signed out.');
      const { portal, consoles } = sessionsOf(tags);
      const ctx = kit.context(req);
      const { user, name } = await signOutDeviceOf(ctx, id, session, portal, consoles);
      setFlash(
        req,
        `Signed ${user.username} out of ${name}: it is signed out of ${serviceName(ctx.place)} and of its apps, and its open chats were closed. Their other devices stay signed in.`,
      );
      res.redirect(303, `/admin/users/${encodeURIComponent(user.id)}#devices-heading`);
    } catch (error) {
      await renderPerson(req, res, id, { devicesFailure: formFailure(error) });
    }
  });
}
