import { Op } from 'sequelize';
import type { GatewayContext } from '../../context.ts';

/** Whether a sign-in of this person has a second step: an authenticator app or at least one passkey. */
export async function hasSecondFactor(ctx: GatewayContext, userId: string): Promise<boolean> {
  const [totp, passkeys] = await Promise.all([
    ctx.models.TotpFactor.count({ where: { userId, confirmedAt: { [Op.ne]: null } }, transaction: ctx.tx }),
    ctx.models.Passkey.count({ where: { userId }, transaction: ctx.tx }),
  ]);
  return totp + passkeys > 0;
}

/**
 * What the second step offers this person: a code field when they have an authenticator app or
 * recovery codes left, a passkey button when they have a passkey. `hasApp` says whether the code field
 * is for the app's codes, or for recovery codes alone (a person whose second factor is a passkey).
 */
export async function secondFactorChoices(
  ctx: GatewayContext,
  userId: string,
): Promise<{ offerCode: boolean; offerPasskey: boolean; hasApp: boolean }> {
  const [totp, codes, passkeys] = await Promise.all([
    ctx.models.TotpFactor.count({ where: { userId, confirmedAt: { [Op.ne]: null } }, transaction: ctx.tx }),
    ctx.models.RecoveryCode.count({ where: { userId, usedAt: null }, transaction: ctx.tx }),
    ctx.models.Passkey.count({ where: { userId }, transaction: ctx.tx }),
  ]);
  // Someone with none of these is not asked at all (second-factor-routes.ts decides their sign-in again).
  return { offerCode: totp + codes > 0, offerPasskey: passkeys > 0, hasApp: totp > 0 };
}
