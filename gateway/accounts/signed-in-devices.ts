import { Op } from 'sequelize';
import { startsWith } from '../../core/like.ts';
import { CONSOLE_CLIENT_ID } from '../admin/console-client.ts';
import type { GatewayContext } from '../context.ts';
import type { OidcPayload } from '../models/index.ts';
import { PORTAL_CLIENT_ID } from '../portal/portal-client.ts';
import { atSentenceStart, deviceWords } from './device-words.ts';
import { serviceName } from '../place.ts';

/**
 * How the portal's sessions are bound to a gateway session: by the portal's sid in it, which the ids of
 * the portal sessions signed in through it start with (a keyed tag: gateway/portal/session-ids.ts).
 */
export type PortalSessions = {
  /** What the ids of the person's portal sessions signed in through a gateway session start with. */
  prefixesOf(userId: string, portalSid: string): string[];
  /** The id of the portal session asking (the account page's): its gateway session is "this device". */
  current: string;
};

/**
 * How the admin console's sessions are bound to a gateway session: by the console's sid in it, which the
 * ids of the console sessions signed in through it start with, tagged as the portal's are (session-ids.ts).
 */
export type ConsoleSessions = {
  /** What the ids of the person's console sessions signed in through a gateway session start with. */
  prefixOf(userId: string, consoleSid: string): string;
};

/** One gateway session of the person: a browser or device signed in, as the account page lists it. */
export type SignedInDevice = {
  /** The session's uid: what "Sign out this device" names. */
  id: string;
  /** The browser and system in plain words, as a label ("Firefox on Windows", "A browser on Linux"). */
  name: string;
  /** The same words inside a sentence ("a browser on Linux"). */
  inSentence: string;
  ip: string | null;
  signedInAt: Date | null;
  lastActiveAt: Date;
  /** The apps signed in through it, by name. */
  apps: string[];
  /** The session this portal session was signed in through. */
  current: boolean;
};

type StoredSession = {
  uid?: unknown;
  loginTs?: unknown;
  authorizations?: Record<string, { sid?: unknown; grantId?: unknown } | undefined>;
};

/**
 * What the account page reads of a stored session: its uid, the portal's and the console's sids in it, and
 * the grants it made.
 */
export function readSession(row: Pick<OidcPayload, 'payload'>) {
  const stored = JSON.parse(row.payload) as StoredSession;
  const authorizations = Object.entries(stored.authorizations ?? {});
  const portalSid = stored.authorizations?.[PORTAL_CLIENT_ID]?.sid;
  const consoleSid = stored.authorizations?.[CONSOLE_CLIENT_ID]?.sid;
  return {
    uid: typeof stored.uid === 'string' ? stored.uid : null,
    loginTs: typeof stored.loginTs === 'number' ? stored.loginTs : null,
    clientIds: authorizations.map(([clientId]) => clientId),
    grantIds: authorizations.flatMap(([, a]) => (typeof a?.grantId === 'string' ? [a.grantId] : [])),
    portalSid: typeof portalSid === 'string' ? portalSid : null,
    consoleSid: typeof consoleSid === 'string' ? consoleSid : null,
  };
}

/** Whether the portal session asking was signed in through the gateway session whose portal sid this is. */
export const isCurrent = (portal: PortalSessions, userId: string, portalSid: string | null) =>
  portalSid !== null && portal.prefixesOf(userId, portalSid).some((prefix) => portal.current.startsWith(prefix));

// The gateway's own relying parties, which the registry does not list: the portal named by the campus.
const OWN_CLIENTS = new Set([PORTAL_CLIENT_ID, CONSOLE_CLIENT_ID]);
const ownApps = (ctx: GatewayContext) =>
  new Map([
    [PORTAL_CLIENT_ID, `${serviceName(ctx.place)} portal and chat`],
    [CONSOLE_CLIENT_ID, 'Admin console'],
  ]);

/** The apps' names, the gateway's own first; an app deleted since is left out. */
async function appNames(ctx: GatewayContext, clientIds: string[]): Promise<Map<string, string>> {
  const others = clientIds.filter((id) => !OWN_CLIENTS.has(id));
  const apps =
    others.length === 0
      ? []
      : await ctx.models.App.findAll({
          where: { clientId: { [Op.in]: others } },
          attributes: ['clientId', 'name'],
          transaction: ctx.tx,
        });
  return new Map([...ownApps(ctx), ...apps.map((app) => [app.clientId, app.name] as const)]);
}

/**
 * When each of these portal and console sessions was last used, by the prefix it starts with. Their
 * expiry is pushed on by the requests they serve (express-session's touch), so it is their last use plus
 * the session lifetime: read, not written, here.
 */
async function webSessionExpiries(
  ctx: GatewayContext,
  prefixes: string[],
): Promise<{ sid: string; expiresAt: Date }[]> {
  if (prefixes.length === 0) return [];
  const { WebSession } = ctx.models;
  return WebSession.findAll({
    where: { [Op.or]: prefixes.map((prefix) => ({ sid: startsWith(WebSession.sequelize!, prefix) })) },
    attributes: ['sid', 'expiresAt'],
    transaction: ctx.tx,
  });
}

/**
 * The person's signed-in browsers and devices: each open gateway session, with what it was signed in
 * from (noted at sign-in: gateway/oidc/session-devices.ts), when, the apps signed in through it, and
 * when it was last active. That is read from expiries the sessions keep anyway, less their lifetime
 * (`sessionTtlSeconds`, the gateway's, the portal's and the console's alike): the gateway session's,
 * which the provider pushes on when the browser comes back to the gateway (within a hundredth of the
 * lifetime: oidc/adapter.ts), and those of the portal and admin console sessions signed in through it,
 * pushed on by their requests. This device first, then the most recently active.
 */
export async function listSignedInDevices(
  ctx: GatewayContext,
  userId: string,
  sessionsOf: { portal: PortalSessions; consoles: ConsoleSessions },
  sessionTtlSeconds: number,
): Promise<SignedInDevice[]> {
  const { portal, consoles } = sessionsOf;
  const now = new Date();
  const rows = await ctx.models.OidcPayload.findAll({
    where: { model: 'Session', accountId: userId, [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: now } }] },
    attributes: ['payload', 'expiresAt'],
    transaction: ctx.tx,
  });
  const sessions = rows.flatMap((row) => {
    const session = readSession(row);
    const prefixes = [
      ...(session.portalSid ? portal.prefixesOf(userId, session.portalSid) : []),
      ...(session.consoleSid ? [consoles.prefixOf(userId, session.consoleSid)] : []),
    ];
    return session.uid ? [{ ...session, uid: session.uid, prefixes, expiresAt: row.expiresAt }] : [];
  });
  if (sessions.length === 0) return [];
  const [devices, names, webSessions] = await Promise.all([
    ctx.models.SessionDevice.findAll({
      where: { sessionUid: { [Op.in]: sessions.map((s) => s.uid) }, accountId: userId },
      transaction: ctx.tx,
    }),
    appNames(ctx, [...new Set(sessions.flatMap((s) => s.clientIds))]),
    webSessionExpiries(
      ctx,
      sessions.flatMap((s) => s.prefixes),
    ),
  ]);
  const deviceOf = new Map(devices.map((device) => [device.sessionUid, device]));
  const lifetime = sessionTtlSeconds * 1000;
  const listed = sessions.map((session): SignedInDevice => {
    const device = deviceOf.get(session.uid);
    const words = deviceWords(device?.userAgent);
    const signedInAt = session.loginTs === null ? null : new Date(session.loginTs * 1000);
    const expiries = [
      session.expiresAt?.getTime() ?? 0,
      ...webSessions
        .filter((w) => session.prefixes.some((prefix) => w.sid.startsWith(prefix)))
        .map((w) => w.expiresAt.getTime()),
    ];
    const seen = Math.max(...expiries) - lifetime;
    return {
      id: session.uid,
      name: atSentenceStart(words),
      inSentence: words,
      ip: device?.ip ?? null,
      signedInAt,
      lastActiveAt: new Date(Math.min(now.getTime(), Math.max(seen, signedInAt?.getTime() ?? 0))),
      apps: session.clientIds.flatMap((clientId) => names.get(clientId) ?? []),
      current: isCurrent(portal, userId, session.portalSid),
    };
  });
  return listed.sort(
    (a, b) => Number(b.current) - Number(a.current) || b.lastActiveAt.getTime() - a.lastActiveAt.getTime(),
  );
}
