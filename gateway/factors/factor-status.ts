import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';

export type FactorStatus = { totp: boolean; passkeys: number; recoveryCodesLeft: number };

/** Which second factors each person has, for the console and the CLI. */
export async function factorsOf(ctx: GatewayContext, userIds: string[]): Promise<Map<string, FactorStatus>> {
  const out = new Map<string, FactorStatus>(
    userIds.map((id) => [id, { totp: false, passkeys: 0, recoveryCodesLeft: 0 }]),
  );
  if (userIds.length === 0) return out;
  const totps = await ctx.models.TotpFactor.findAll({
    where: { userId: { [Op.in]: userIds }, confirmedAt: { [Op.ne]: null } },
    transaction: ctx.tx,
  });
  for (const t of totps) out.get(t.userId)!.totp = true;
  const passkeys = await ctx.models.Passkey.findAll({
    attributes: ['userId'],
    where: { userId: { [Op.in]: userIds } },
    transaction: ctx.tx,
  });
  for (const p of passkeys) out.get(p.userId)!.passkeys += 1;
  const codes = await ctx.models.RecoveryCode.findAll({
    where: { userId: { [Op.in]: userIds }, usedAt: null },
    transaction: ctx.tx,
  });
  for (const c of codes) out.get(c.userId)!.recoveryCodesLeft += 1;
  return out;
}

/** Short words for a person's factors: `totp, 2 passkeys, 10 recovery codes`, or `none`. */
export function describeFactors(status: FactorStatus | undefined): string {
  if (!status) return 'none';
  const parts = [
    status.totp ? 'totp' : '',
    status.passkeys > 0 ? `${status.passkeys} passkey${status.passkeys === 1 ? '' : 's'}` : '',
    (status.totp || status.passkeys > 0) && status.recoveryCodesLeft > 0
      ? `${status.recoveryCodesLeft} recovery code${status.recoveryCodesLeft === 1 ? '' : 's'}`
      : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
