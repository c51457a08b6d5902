import { Op } from 'sequelize';
import { NotFoundError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { afterFactorRemoved, holdPerson } from './last-factor.ts';
import { asPerson } from './passkeys/person.ts';

/**
 * A person removes their own authenticator app (a new phone: they set it up again afterwards). Its
 * secret is deleted; where it was the last second factor, afterFactorRemoved decides.
 */
export async function removeOwnTotp(ctx: GatewayContext, user: User): Promise<void> {
  await inTransaction(asPerson(ctx, user), async (ctx) => {
    await holdPerson(ctx, user);
    const removed = await ctx.models.TotpFactor.destroy({
      where: { userId: user.id, confirmedAt: { [Op.ne]: null } },
      transaction: ctx.tx,
    });
    if (removed === 0) throw new NotFoundError('No authenticator app is set up for your account.');
    const recoveryCodes = await afterFactorRemoved(ctx, user);
    await audit(ctx, { action: 'factor.remove', target: user.username, details: { factor: 'totp', recoveryCodes } });
  });
}
