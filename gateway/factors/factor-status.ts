import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';

export type FactorStatus = { totp: boolean; recoveryCodesLeft: number };

/** Which second factors each person has, for the console and the CLI. */
export async function factorsOf(ctx: GatewayContext, userIds: string[]): Promise<Map<string, FactorStatus>> {
  const out = new Map<string, FactorStatus>(userIds.map((id) => [id, { totp: false, recoveryCodesLeft: 0 }]));
  if (userIds.length === 0) return out;
  const totps = await ctx.models.TotpFactor.findAll({ where: { userId: { [Op.in]: userIds }, confirmedAt: { [Op.ne]: null } }, transaction: ctx.tx });
  for (const t of totps) out.get(t.userId)!.totp = true;
  const codes = await ctx.models.RecoveryCode.findAll({ where: { userId: { [Op.in]: userIds }, usedAt: null }, transaction: ctx.tx });
  for (const c of codes) out.get(c.userId)!.recoveryCodesLeft += 1;
  return out;
}

/** Short words for a person's factors: `totp` or `none`. */
export function describeFactors(status: FactorStatus | undefined): string {
  return status?.totp ? 'totp' : 'none';
}
