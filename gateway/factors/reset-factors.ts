import { endAccessOf } from '../accounts/end-access.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableUser } from '../accounts/find-user.ts';
import { secondFactorRequired } from './policy.ts';
import { forgetReplacedRecoveryCodes } from './recovery-codes.ts';

/**
 * What a reset did: `removed` is false when the person had no factor, and then nothing was changed;
 * `unlocked` is when the lockout it lifted would have ended, or null when the account was not locked.
 */
export type FactorReset = { user: User; removed: boolean; unlocked: Date | null };

/**
 * Removes a person's authenticator, passkeys and recovery codes, those of replaced sets too (a lost or
 * stolen phone or key): they sign in with their password alone, or are asked to enrol again where the
 * policy requires a second factor (the audit entry says which, for the notice mailed to them). It also
 * signs them out everywhere (endAccessOf, as "Sign out everywhere" does): the lost device is signed in
 * with a session of theirs, which would otherwise outlive the factors that opened it. And it lifts their
 * lockout, as an unlock does: the person has just proved who they are to the helpdesk, and the ways a lock
 * lets its person through (a browser signed in with before, a passkey) are gone with the reset. The
 * per-network limit stays. Someone without any factor has nothing to lose: nothing is written then,
 * neither their sessions, their lockout nor the audit log (a script may run it again).
 */
export async function resetFactorsOf(ctx: GatewayContext, idOrUsername: string): Promise<FactorReset> {
  return inTransaction(ctx, async (ctx) => {
    const { user } = await findManageableUser(ctx, idOrUsername);
    const { TotpFactor, RecoveryCode, Passkey } = ctx.models;
    const where = { where: { userId: user.id }, transaction: ctx.tx };
    const held = (await TotpFactor.count(where)) + (await RecoveryCode.count(where)) + (await Passkey.count(where));
    if (held === 0) return { user, removed: false, unlocked: null };
    const totp = await TotpFactor.destroy(where);
    const codes = await RecoveryCode.destroy(where);
    const passkeys = await Passkey.destroy(where);
    await forgetReplacedRecoveryCodes(ctx, user.id);
    const unlocked = user.lockedUntil && user.lockedUntil > new Date() ? user.lockedUntil : null;
    user.failedLogins = 0;
    user.lockedUntil = null;
    // endAccessOf saves the user, with the lockout lifted.
    const { artefacts } = await endAccessOf(ctx, user);
    await audit(ctx, {
      action: 'user.reset_factors',
      target: user.username,
      details: {
        totp: totp > 0,
        recoveryCodes: codes,
        passkeys,
        signedOutEverywhere: true,
        endedArtefacts: artefacts,
        wasLockedUntil: unlocked?.toISOString() ?? null,
        // What their next sign-in asks of them, for the notice they are mailed: a new factor, or nothing more.
        secondFactorRequired: await secondFactorRequired(ctx, user),
      },
    });
    return { user, removed: true, unlocked };
  });
}
