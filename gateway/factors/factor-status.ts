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

/**
 * What the account page says of a person's own second factor, naming their passkeys; null when they have
 * none yet.
 */
export function describeOwnSecondFactor(status: FactorStatus, passkeyNames: string[]): string | null {
  const names = passkeyNames.map((name) => `“${name}”`).join(', ');
  const passkeys = `your passkey${passkeyNames.length === 1 ? '' : 's'} ${names}`;
  if (status.totp && passkeyNames.length > 0)
    return `An authenticator app is set up, and ${passkeys}: each sign-in asks for a code from the app or a passkey after your password.`;
  if (status.totp) return 'An authenticator app is set up: each sign-in asks for its code after your password.';
  if (passkeyNames.length > 0)
    return `Your second factor is ${passkeys}: each sign-in asks for ${passkeyNames.length === 1 ? 'it' : 'one of them'} after your password.`;
  return null;
}
