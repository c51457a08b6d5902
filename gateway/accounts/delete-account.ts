import { Op } from 'sequelize';
import { ForbiddenError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { nodesTold } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { accountClaims } from './account-claims.ts';
import { endAccessOf } from './end-access.ts';
import { findManageableUser } from './find-user.ts';
import { isLastAdministrator, LastAdministratorError, remedyOf } from './keep-administrators.ts';
import { openSessionsOf } from './open-sessions.ts';

/** How the directory, the nodes and the portal name the author of what a deleted account wrote. */
export const FORMER_MEMBER = 'Former member';

/** Deleting one's own account: another administrator can. */
export class OwnDeletionError extends ForbiddenError {
  readonly field = 'account' as const;

  constructor() {
    super('You cannot delete your own account: another administrator can.');
  }
}

/** What a deletion did: whose account it was, and how many browsers or devices it signed out. */
export type Deletion = { username: string; endedSessions: number; directory: string | null };

/**
 * Deletes a person's account, for someone who may manage them (a unit admin: only people wholly in their
 * units, as for disabling); nobody deletes their own, and the last active administrator stays.
 *
 * In one transaction: their access ends as disabling ends it (endAccessOf: sessions, grants, tokens, the
 * apps told over back-channel logout, the nodes told, with their chat addresses, so that each node takes
 * them out of the groups it hosts); what Atrium kept of them goes: password hash, second factors
 * (authenticator app, passkeys, recovery codes), email and name (the account row), units and roles,
 * their devices, links to set a password and pending security mails, their directory link. Left is their
 * username with their `sub` and chat addresses (`deleted_accounts`), so that the username is never given
 * again: a chat address is username@domain, and a new holder would inherit the old person's chats. The
 * audit log keeps its earlier rows of them (the campus's security record) and records this one.
 */
export async function deleteAccount(ctx: GatewayContext, idOrUsername: string): Promise<Deletion> {
  const deletion = await inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    if (ctx.actor.kind === 'user' && ctx.actor.id === user.id) throw new OwnDeletionError();
    if (await isLastAdministrator(ctx, user)) throw new LastAdministratorError('account', user.username, remedyOf(ctx));
    const addresses = (await accountClaims(ctx, user)).im_domains.map((domain) => `${user.username}@${domain}`);
    const endedSessions = await openSessionsOf(ctx, user.id);
    const directory = await directoryOf(ctx, user);
    const deletedAt = new Date();
    await endAccessOf(ctx, user, deletedAt, { addresses });
    await forgetPerson(ctx, user);
    await ctx.models.DeletedAccount.create(
      { username: user.username, userId: user.id, deletedAt, addresses: JSON.stringify(addresses) },
      { transaction: ctx.tx },
    );
    await audit(ctx, {
      action: 'user.delete',
      target: user.username,
      details: { endedSessions, ...(directory && { directory }) },
    });
    return { username: user.username, endedSessions, directory };
  });
  await nodesTold(ctx);
  return deletion;
}

/** The campus directory the person came from, named in the audit entry (the link itself goes). */
async function directoryOf(ctx: GatewayContext, user: User): Promise<string | null> {
  const link = await ctx.models.DirectoryAccount.findByPk(user.id, { transaction: ctx.tx });
  if (!link) return null;
  return (await ctx.models.Directory.findByPk(link.directoryId, { transaction: ctx.tx }))?.name ?? null;
}

/** Removes every row that holds something of the person, then the account row itself. */
async function forgetPerson(ctx: GatewayContext, user: User): Promise<void> {
  const m = ctx.models;
  const byUser = { where: { userId: user.id }, transaction: ctx.tx };
  await m.Membership.destroy(byUser);
  await m.TotpFactor.destroy(byUser);
  await m.RecoveryCode.destroy(byUser);
  await m.Passkey.destroy(byUser);
  await m.PasskeyChallenge.destroy(byUser);
  await m.PasswordReset.destroy(byUser);
  await m.DirectoryAccount.destroy(byUser);
  // Mails about their account, sent or waiting, hold their address and what happened to it.
  await m.SecurityNotice.destroy({
    where: { [Op.or]: [{ recipient: user.email }, { account: user.username }] },
    transaction: ctx.tx,
  });
  await user.destroy({ transaction: ctx.tx });
}
