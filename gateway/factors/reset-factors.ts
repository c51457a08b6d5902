import { endAccessOf } from '../accounts/end-access.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from '../accounts/find-user.ts';

/**
 * Removes a person's authenticator, passkeys and recovery codes (a lost or stolen phone or key): they sign in
 * with their password alone, or are asked to enrol again where the policy requires a second factor. It also
 * signs them out everywhere (endAccessOf, as "Sign out everywhere" does): the lost device is signed in
 * with a session of theirs, which would otherwise outlive the factors that opened it.
 */
export async function resetFactors(ctx: GatewayContext, idOrUsername: string): Promise<User> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const totp = await ctx.models.TotpFactor.destroy({ where: { userId: user.id }, transaction: ctx.tx });
    const codes = await ctx.models.RecoveryCode.destroy({ where: { userId: user.id }, transaction: ctx.tx });
    const passkeys = await ctx.models.Passkey.destroy({ where: { userId: user.id }, transaction: ctx.tx });
    const { artefacts } = await endAccessOf(ctx, user);
    await audit(ctx, {
      action: 'user.reset_factors',
      target: user.username,
      details: { totp: totp > 0, recoveryCodes: codes, passkeys, signedOutEverywhere: true, endedArtefacts: artefacts },
    });
    return user;
  });
}
