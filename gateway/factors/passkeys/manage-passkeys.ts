import { NotFoundError } from '../../../core/errors.ts';
import { audit } from '../../audit.ts';
import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';
import { inTransaction } from '../../transaction.ts';
import { afterFactorRemoved, holdPerson, keepAWayIn } from '../last-factor.ts';
import { asPerson } from './person.ts';
import { presentPasskey, type PresentedPasskey } from './present-passkey.ts';
import { parsePasskeyName } from './registration.ts';

export async function listPasskeys(ctx: GatewayContext, userId: string): Promise<PresentedPasskey[]> {
  const rows = await ctx.models.Passkey.findAll({
    where: { userId },
    order: [['createdAt', 'ASC']],
    transaction: ctx.tx,
  });
  return rows.map(presentPasskey);
}

// Another person's passkey id is "not found", exactly like one that does not exist.
async function ownPasskey(ctx: GatewayContext, user: User, id: unknown) {
  const passkey =
    typeof id === 'string' && id.length <= 36
      ? await ctx.models.Passkey.findOne({ where: { id, userId: user.id }, transaction: ctx.tx })
      : null;
  if (!passkey) throw new NotFoundError('No such passkey on your account');
  return passkey;
}

export async function renamePasskey(
  ctx: GatewayContext,
  user: User,
  id: unknown,
  name: unknown,
): Promise<PresentedPasskey> {
  const newName = parsePasskeyName(name);
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    const passkey = await ownPasskey(ctx, user, id);
    const before = passkey.name;
    passkey.name = newName;
    await passkey.save({ transaction: ctx.tx });
    await audit(ctx, {
      action: 'passkey.rename',
      target: user.username,
      details: { passkey: passkey.id, from: before, to: newName },
    });
    return presentPasskey(passkey);
  });
}

/** Removes one of the person's passkeys; where it was their last second factor, afterFactorRemoved decides. */
export async function removePasskey(ctx: GatewayContext, user: User, id: unknown): Promise<PresentedPasskey> {
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    await holdPerson(ctx, user);
    const passkey = await ownPasskey(ctx, user, id);
    await passkey.destroy({ transaction: ctx.tx });
    await keepAWayIn(ctx, user);
    const recoveryCodes = await afterFactorRemoved(ctx, user);
    await audit(ctx, {
      action: 'passkey.remove',
      target: user.username,
      details: { passkey: passkey.id, name: passkey.name, ...(recoveryCodes > 0 ? { recoveryCodes } : {}) },
    });
    return presentPasskey(passkey);
  });
}
