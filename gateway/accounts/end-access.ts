import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from './find-user.ts';

/**
 * Ends every way the person is signed in: their gateway sessions, grants, authorization codes and
 * refresh tokens go (so neither a silent sign-in nor a refresh brings them back, even after the account
 * is enabled again), and the domain nodes are told to refuse the access tokens issued until now
 * (`ended_access`, which the gateway pushes to the nodes and the nodes also fetch: gateway/oidc/ended-access.ts).
 * Runs inside the caller's transaction, so it happens with the change that caused it or not at all.
 */
export async function endAccessOf(ctx: GatewayContext, user: User): Promise<{ artefacts: number }> {
  const endedAt = new Date();
  const artefacts = await ctx.models.OidcPayload.destroy({ where: { accountId: user.id }, transaction: ctx.tx });
  await ctx.models.EndedAccess.create({ kind: 'sub', subject: user.id, endedAt }, { transaction: ctx.tx });
  user.accessEndedAt = endedAt;
  await user.save({ transaction: ctx.tx });
  return { artefacts };
}

/** "Sign out everywhere" for a person the actor may manage: every session and token of theirs ends. */
export async function signOutEverywhere(ctx: GatewayContext, idOrUsername: string): Promise<User> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const { artefacts } = await endAccessOf(ctx, user);
    await audit(ctx, { action: 'user.sign_out_everywhere', target: user.username, details: { artefacts } });
    return user;
  });
}
