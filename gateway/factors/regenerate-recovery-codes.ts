import { ValidationError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { asPerson } from './passkeys/person.ts';
import { hasSecondFactor } from './passkeys/second-factor-choices.ts';
import { issueRecoveryCodes } from './recovery-codes.ts';

/**
 * Ten new recovery codes for a person's own account, shown once; every earlier code stops working. Only
 * for someone with a second factor, whose sign-in has a step where a recovery code can stand in.
 */
export async function regenerateRecoveryCodes(ctx: GatewayContext, user: User): Promise<string[]> {
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    if (!(await hasSecondFactor(ctx, user.id)))
      throw new ValidationError(
        'Set up an authenticator app or a passkey first: recovery codes stand in for one of them.',
      );
    const replaced = await ctx.models.RecoveryCode.count({
      where: { userId: user.id, usedAt: null },
      transaction: ctx.tx,
    });
    const codes = await issueRecoveryCodes(ctx, user.id);
    await audit(ctx, {
      action: 'factor.recovery_codes',
      target: user.username,
      details: { issued: codes.length, replacedUnused: replaced },
    });
    return codes;
  });
}
