import { Op } from 'sequelize';
import { startsWith } from '../../core/like.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { recordAppLogouts } from '../oidc/app-logouts.ts';
import { personPrefix } from '../portal/session-ids.ts';
import { rowPrefixesOf } from '../portal/token-vault.ts';
import { spendOpenResetLinks } from '../recovery/spend-reset-links.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from './find-user.ts';
import { openSessionsOf } from './open-sessions.ts';
import { saveUser } from './save-bookkeeping.ts';
import { temporaryPasswordUntil } from './temporary-password.ts';

/**
 * Ends every way the person is signed in: their gateway sessions, grants, authorization codes and
 * refresh tokens go (so neither a silent sign-in nor a refresh brings them back, even after the account
 * is enabled again), so do their portal sessions and the tokens the portal kept for them. Console and
 * portal sessions signed in before `accessEndedAt` are refused anyway, whichever were not found here.
 * The domain nodes are told to refuse the access tokens issued until now (`ended_access`, which the
 * gateway pushes to the nodes and the nodes also fetch: gateway/oidc/ended-access.ts), every app the
 * person signed in to through one of those sessions is told over its back-channel logout URI after
 * commit (gateway/oidc/app-logouts.ts), as a sign-out at the gateway tells them, and the person's open
 * reset links are spent, so none of them lets in whoever the access was ended against.
 * Runs inside the caller's transaction, so it happens with the change that caused it or not at all.
 *
 * With `deleted`, the account is being deleted (delete-account.ts): the nodes' entry says so.
 *
 * `endedAt` (now unless given) is the moment access ended for the nodes and for the portal and console
 * sessions. A sign-in that goes on past the ending gives a moment before it: a token's `iat` has whole
 * seconds, and the nodes take a token issued in the second of the ending as issued before it.
 */
export async function endAccessOf(
  ctx: GatewayContext,
  user: User,
  endedAt: Date = new Date(),
  deleted?: { addresses: string[] },
): Promise<{ artefacts: number }> {
  // Read from the sessions about to go, which alone say which apps the person is signed in to.
  await recordAppLogouts(ctx, user.id);
  const artefacts = await ctx.models.OidcPayload.destroy({ where: { accountId: user.id }, transaction: ctx.tx });
  await ctx.models.SessionDevice.destroy({ where: { accountId: user.id }, transaction: ctx.tx });
  await endPortalSessions(ctx, [personPrefix(user.id)]);
  await spendOpenResetLinks(ctx, user.id, endedAt);
  // A deleted person's entry carries their chat addresses: each node takes them out of its groups.
  const deletedAddresses = deleted ? JSON.stringify(deleted.addresses) : null;
  await ctx.models.EndedAccess.create(
    { kind: 'sub', subject: user.id, endedAt, deletedAddresses },
    { transaction: ctx.tx },
  );
  user.accessEndedAt = endedAt;
  await saveUser(user, ctx.tx);
  return { artefacts };
}

/**
 * Ends the portal sessions whose ids start with one of `prefixes`, and the tokens kept for them: all of a
 * person's (personPrefix), or those signed in through one gateway session (sign-out-device.ts).
 */
export function endPortalSessions(ctx: GatewayContext, prefixes: string[]): Promise<number> {
  return endWebSessions(ctx, prefixes.flatMap(rowPrefixesOf));
}

/** Ends the admin console's sessions whose ids start with one of `prefixes` (sign-out-device.ts). */
export function endConsoleSessions(ctx: GatewayContext, prefixes: string[]): Promise<number> {
  return endWebSessions(ctx, prefixes);
}

/**
 * Deletes the `web_sessions` rows whose key starts with one of `prefixes` (a range of the primary key, not
 * a scan of everyone's sessions). Found first, then deleted by key: a DELETE by a range locks the gaps
 * around it on MariaDB until the caller's transaction ends, where other people's sessions are being written.
 */
async function endWebSessions(ctx: GatewayContext, prefixes: string[]): Promise<number> {
  const { WebSession } = ctx.models;
  const rows = await WebSession.findAll({
    where: { [Op.or]: prefixes.map((prefix) => ({ sid: startsWith(WebSession.sequelize!, prefix) })) },
    attributes: ['sid'],
    transaction: ctx.tx,
  });
  if (rows.length === 0) return 0;
  return WebSession.destroy({ where: { sid: { [Op.in]: rows.map((row) => row.sid) } }, transaction: ctx.tx });
}

/**
 * Gives the person a new password (its hash) and lifts their lockout, then ends every way they are
 * signed in (endAccessOf): whoever knew the old password may hold a session or a refresh token made with
 * it. In the caller's transaction; the caller audits its own action (a reset, a link used, a change).
 * `temporary`: an administrator's password, which the person replaces at their next sign-in; any other new
 * password (their own change, a reset link) is theirs to keep, and ends a temporary one.
 */
export async function replacePassword(
  ctx: GatewayContext,
  user: User,
  passwordHash: string,
  options: { temporary?: boolean } = {},
): Promise<{ artefacts: number }> {
  user.passwordHash = passwordHash;
  user.mustChangePassword = options.temporary === true;
  user.temporaryPasswordUntil = temporaryPasswordUntil(options.temporary === true);
  user.failedLogins = 0;
  user.lockedUntil = null;
  await user.save({ transaction: ctx.tx });
  return endAccessOf(ctx, user);
}

/**
 * Whether the person's access was ended (password reset, sign out everywhere, disabled) at or after
 * `signedInAt` (epoch ms): a console or portal session signed in before then must not go on.
 */
export function accessEndedSince(user: User, signedInAt: number): boolean {
  return user.accessEndedAt != null && user.accessEndedAt.getTime() >= signedInAt;
}

/** "Sign out everywhere" for a person the actor may manage: every session and token of theirs ends. */
export async function signOutEverywhere(ctx: GatewayContext, idOrUsername: string): Promise<User> {
  return (await signOutEverywhereOf(ctx, idOrUsername)).user;
}

/**
 * signOutEverywhere, saying how many browsers or devices were signed in (one gateway session each, as the
 * person's account page lists them) for the administrator to be told, as after disabling. The audit line
 * says it too, and its notice tells the person (notice-mails.ts).
 */
export async function signOutEverywhereOf(
  ctx: GatewayContext,
  idOrUsername: string,
): Promise<{ user: User; endedSessions: number }> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const endedSessions = await openSessionsOf(ctx, user.id);
    const { artefacts } = await endAccessOf(ctx, user);
    await audit(ctx, {
      action: 'user.sign_out_everywhere',
      target: user.username,
      details: { endedSessions, artefacts },
    });
    return { user, endedSessions };
  });
}
