import { endAccessOf } from '../accounts/end-access.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from '../accounts/find-user.ts';

/** What a reset did: `removed` is false when the person had no factor, and then nothing was changed. */
export type FactorReset = { user: User; removed: boolean };

/**
 * Removes a person's authenticator, passkeys and recovery codes (a lost or stolen phone or key): they sign in
 * with their password alone, or are asked to enrol again where the policy requires a second factor. It also
 * signs them out everywhere (endAccessOf, as "Sign out everywhere" does): the lost device is signed in
 * with a session of theirs, which would otherwise outlive the factors that opened it. Someone without any
 * factor has nothing to lose: nothing is written then, neither their sessions nor the audit log (a script
 * may run it again).
 */
export async function resetFactorsOf(ctx: GatewayContext, idOrUsername: string): Promise<FactorReset> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const { TotpFactor, RecoveryCode, Passkey } = ctx.models;
    const where = { where: { userId: user.id }, transaction: ctx.tx };
    const held = (await TotpFactor.count(where)) + (await RecoveryCode.count(where)) + (await Passkey.count(where));
    if (held === 0) return { user, removed: false };
    const totp = await TotpFactor.destroy(where);
    const codes = await RecoveryCode.destroy(where);
    const passkeys = await Passkey.destroy(where);
    const { artefacts } = await endAccessOf(ctx, user);
    await audit(ctx, {
      action: 'user.reset_factors',
      target: user.username,
      details: { totp: totp > 0, recoveryCodes: codes, passkeys, signedOutEverywhere: true, endedArtefacts: artefacts },
    });
    return { user, removed: true };
  });
}
