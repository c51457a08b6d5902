import { ValidationError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { asPerson } from '../factors/passkeys/person.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { passwordSchema } from './schemas.ts';
import { refuseWeakPassword } from './weak-passwords.ts';

/**
 * Whether the person is to choose their own password before their sign-in goes on: an administrator set
 * them a temporary one (update-user.ts resetPassword, an import), and they have not replaced it since.
 */
export async function mustChooseOwnPassword(ctx: GatewayContext, userId: string): Promise<boolean> {
  const user = await ctx.models.User.findByPk(userId, { attributes: ['id', 'mustChangePassword', 'passwordHash'] });
  return user?.mustChangePassword === true && user.passwordHash !== null;
}

export type OwnPassword = { password: unknown; confirmation: unknown };

/**
 * The person, signing in with a temporary password and past their second factor, replaces it with one of
 * their own, under the same rules as any password Atrium sets (length, the weak-password check), and not
 * the temporary one again. Their sessions are not ended: every sign-in with the temporary password stops at
 * this step, and the administrator's reset already ended the sessions before it. Audited as
 * `password.change` with `replacedTemporary`, which mails them the notice of a changed password.
 */
export async function chooseOwnPassword(ctx: GatewayContext, user: User, input: OwnPassword): Promise<User> {
  const plain = passwordSchema.safeParse(input.password);
  if (!plain.success) {
    const reason = plain.error.issues[0]?.message ?? 'invalid';
    throw new ValidationError(`That password is not acceptable: ${reason}.`, { password: reason });
  }
  if (input.confirmation !== plain.data)
    throw new ValidationError('The two passwords differ: type the same new password twice.', {
      confirmation: 'type the same password twice',
    });
  const person = asPerson(ctx, user);
  await refuseWeakPassword(person, plain.data, user);
  if (await verifyPassword(user.passwordHash, plain.data))
    throw new ValidationError('That is the temporary password you were given: choose one of your own.', {
      password: 'same as the temporary one',
    });
  const passwordHash = await hashPassword(plain.data);
  return inTransaction(person, async (ctx) => {
    const fresh = (await ctx.models.User.findByPk(user.id, { transaction: ctx.tx })) ?? user;
    fresh.passwordHash = passwordHash;
    fresh.mustChangePassword = false;
    fresh.temporaryPasswordUntil = null;
    await fresh.save({ transaction: ctx.tx });
    await audit(ctx, { action: 'password.change', target: fresh.username, details: { replacedTemporary: true } });
    return fresh;
  });
}
