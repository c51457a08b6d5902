import { Op } from 'sequelize';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { asPerson } from '../factors/passkeys/person.ts';
import type { OidcPayload, User } from '../models/index.ts';
import { recordAppLogouts } from '../oidc/app-logouts.ts';
import { recordEndedSession } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { atSentenceStart, deviceWords } from './device-words.ts';
import { endConsoleSessions, endPortalSessions } from './end-access.ts';
import { findManageableUser } from './find-user.ts';
import { isCurrent, readSession, type ConsoleSessions, type PortalSessions } from './signed-in-devices.ts';

/**
 * "Sign out this device" on the account page: one gateway session of the person ends, as a sign-out in
 * that browser would end it and more, whichever device asks. The session goes with every grant made
 * through it and all that was issued under them (refresh tokens of the apps and of the portal, codes),
 * offline access included, so no app signed in there can refresh; the portal sessions signed in through
 * it go with the tokens kept for them, and so do the admin console's signed in through it (the next console
 * request there goes to sign-in); the domain nodes refuse the access tokens issued in it and close
 * its sockets (an ended-access entry of its `sid`, which those tokens carry); and each app signed in
 * through it is told over its back-channel logout URI after commit, as when access ends. The person's
 * other sessions, and what they allowed apps (remembered consent), stay.
 *
 * Only a session of the person's own is found; another's, or one gone, is refused and nothing changes.
 * The session the asking portal session was signed in through is refused too: that browser signs out
 * with the portal's Sign out, which also clears its cookies. Returns the device as a sentence names it
 * past its first word (deviceWords); the audit keeps it as the page's list labels it.
 */
export async function signOutDevice(
  ctx: GatewayContext,
  user: User,
  sessionUid: string,
  portal: PortalSessions,
  consoles: ConsoleSessions,
): Promise<{ name: string }> {
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    const row = await sessionRowOf(ctx, user, sessionUid, 'That device is not signed in to your account any more.');
    if (isCurrent(portal, user.id, readSession(row).portalSid))
      throw new ConflictError('That is this device: to sign out here, use Sign out in the portal.');
    return endDeviceSession(ctx, user, { row, sessionUid }, portal, consoles);
  });
}

/**
 * "Sign out this device" on the person's console page: the same ending as the person's own, for whoever
 * may sign them out everywhere (findManageableUser), audited with the administrator as actor. No device
 * is "this one" here: the console's own session is not the person's (or, on one's own page, it ends too).
 */
export async function signOutDeviceOf(
  ctx: GatewayContext,
  idOrUsername: string,
  sessionUid: string,
  portal: PortalSessions,
  consoles: ConsoleSessions,
): Promise<{ user: User; name: string }> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const gone = `That device is not signed in to ${user.username}'s account any more: nothing was signed out.`;
    const row = await sessionRowOf(ctx, user, sessionUid, gone);
    return { user, ...(await endDeviceSession(ctx, user, { row, sessionUid }, portal, consoles)) };
  });
}

/** The person's own gateway session of that uid, locked for the ending; another's, or one gone, is refused. */
async function sessionRowOf(ctx: GatewayContext, user: User, sessionUid: string, gone: string) {
  const row = await ctx.models.OidcPayload.findOne({
    where: { model: 'Session', uid: sessionUid, accountId: user.id },
    transaction: ctx.tx,
    ...(ctx.tx ? { lock: true } : {}),
  });
  if (!row) throw new NotFoundError(gone);
  return row;
}

/** Ends one gateway session of the person and what was signed in through it, and audits it (see above). */
async function endDeviceSession(
  ctx: GatewayContext,
  user: User,
  { row, sessionUid }: { row: OidcPayload; sessionUid: string },
  portal: PortalSessions,
  consoles: ConsoleSessions,
): Promise<{ name: string }> {
  const { OidcPayload, SessionDevice } = ctx.models;
  const session = readSession(row);
  await recordAppLogouts(ctx, user.id, { sessionUid });
  // Each by an index of its own (grant_id; the primary key), so that no delete reads the whole table.
  const issued = { grantId: { [Op.in]: session.grantIds } };
  const grants = { model: 'Grant', id: { [Op.in]: session.grantIds } };
  let artefacts = 0;
  for (const where of session.grantIds.length > 0 ? [issued, grants] : []) {
    artefacts += await OidcPayload.destroy({ where, transaction: ctx.tx });
  }
  await OidcPayload.destroy({ where: { model: 'Session', id: row.id }, transaction: ctx.tx });
  const portalSessions = session.portalSid
    ? await endPortalSessions(ctx, portal.prefixesOf(user.id, session.portalSid))
    : 0;
  const consoleSessions = session.consoleSid
    ? await endConsoleSessions(ctx, [consoles.prefixOf(user.id, session.consoleSid)])
    : 0;
  await recordEndedSession(ctx, sessionUid);

  const device = await SessionDevice.findByPk(sessionUid, { transaction: ctx.tx });
  await SessionDevice.destroy({ where: { sessionUid }, transaction: ctx.tx });
  const name = deviceWords(device?.userAgent);
  // The person's own is not mailed to them (they pressed it); an administrator's is (notice-mails.ts).
  const own = ctx.actor.kind === 'user' && ctx.actor.id === user.id;
  await audit(ctx, {
    action: 'user.sign_out_device',
    target: user.username,
    details: {
      device: atSentenceStart(name),
      ip: device?.ip ?? null,
      apps: session.clientIds,
      artefacts,
      portalSessions,
      consoleSessions,
      ...(own ? { own } : {}),
    },
  });
  return { name };
}
