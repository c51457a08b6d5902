import { Op } from 'sequelize';
import { ValidationError } from '../../core/errors.ts';
import { replacePassword } from '../accounts/end-access.ts';
import { hashPassword } from '../accounts/passwords.ts';
import { passwordSchema } from '../accounts/schemas.ts';
import { refuseWeakPassword } from '../accounts/weak-passwords.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { PasswordReset, User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { ResetLinkError } from './errors.ts';
import { firstPasswordDetail } from './notice-mails.ts';
import { hashResetToken, RESET_TOKEN_PATTERN } from './reset-tokens.ts';

/** The reset and its person, when the link may still be used; otherwise a ResetLinkError, audited. */
export async function openResetLink(ctx: GatewayContext, token: string): Promise<{ reset: PasswordReset; user: User }> {
  try {
    return await usableReset(ctx, token);
  } catch (error) {
    if (error instanceof ResetLinkError) await auditRefusal(ctx, token, error);
    throw error;
  }
}

/**
 * Sets the new password chosen through a reset link and spends the link (with every other open link of
 * the person). Whoever had the old password may hold a session or a refresh token made with it, so every
 * session and token of the person ends, as with an administrator's reset. A bad password leaves the link
 * usable; so does one too easy to guess (weak-passwords.ts); a used, cancelled, expired or unknown link
 * changes nothing.
 */
export async function completePasswordReset(
  ctx: GatewayContext,
  token: string,
  input: { password?: unknown; confirmation?: unknown },
): Promise<User> {
  try {
    const { user: person } = await usableReset(ctx, token);
    const plain = passwordSchema.safeParse(input.password);
    if (!plain.success) throw unacceptablePassword(plain.error.issues[0]);
    await refuseWeakPassword(ctx, plain.data, person, () => 'The new password is too easy to guess.');
    if (input.confirmation !== plain.data)
      throw new ValidationError('The two passwords differ.', { confirmation: 'Type the same new password twice.' });
    const passwordHash = await hashPassword(plain.data);
    return await inTransaction(ctx, async (ctx) => {
      const now = new Date();
      const tokenHash = hashResetToken(token);
      // Spent by a conditional update, so two submissions racing with one link cannot both succeed.
      const [spent] = await ctx.models.PasswordReset.update(
        { usedAt: now },
        { where: { tokenHash, usedAt: null, cancelledAt: null, expiresAt: { [Op.gt]: now } }, transaction: ctx.tx },
      );
      if (spent !== 1) {
        await usableReset(ctx, token);
        throw new ResetLinkError('used');
      }
      const { user } = await usableUser(ctx, tokenHash);
      const first = firstPasswordDetail(user);
      // Ending their access spends the person's other open links as well.
      const { artefacts } = await replacePassword(ctx, user, passwordHash);
      await audit(ctx, {
        action: 'password_reset.use',
        target: user.username,
        details: { endedArtefacts: artefacts, ...first },
      });
      return user;
    });
  } catch (error) {
    if (error instanceof ResetLinkError) await auditRefusal(ctx, token, error);
    throw error;
  }
}

/**
 * What the reset page says of a new password far too long for its form to read: what the schema says of
 * one a character over its limit, so that both say the same.
 */
export function passwordTooLong(): ValidationError {
  const overLimit = 'x'.repeat((passwordSchema.maxLength ?? 0) + 1);
  return unacceptablePassword(passwordSchema.safeParse(overLimit).error?.issues[0]);
}

/** What the reset page says of a password the schema refused: what is wrong above, what to do beside it. */
function unacceptablePassword(issue: { code: string; message: string } | undefined): ValidationError {
  if (issue?.code === 'too_big')
    return new ValidationError('The new password is too long.', { password: `Use ${issue.message}.` });
  if (issue?.code === 'too_small')
    return new ValidationError('The new password is too short.', { password: `Use ${issue.message}.` });
  if (issue?.code === 'custom')
    return new ValidationError('The new password is only spaces.', { password: 'Use letters, digits or signs too.' });
  return new ValidationError('Enter a new password.', { password: 'Type it in both fields.' });
}

async function usableReset(ctx: GatewayContext, token: string): Promise<{ reset: PasswordReset; user: User }> {
  if (!RESET_TOKEN_PATTERN.test(token)) throw new ResetLinkError('unknown');
  const reset = await ctx.models.PasswordReset.findByPk(hashResetToken(token), { transaction: ctx.tx });
  if (!reset) throw new ResetLinkError('unknown');
  if (reset.cancelledAt) throw new ResetLinkError('cancelled');
  if (reset.usedAt) throw new ResetLinkError('used');
  if (reset.expiresAt <= new Date()) throw new ResetLinkError('expired');
  const user = await ctx.models.User.findByPk(reset.userId, { transaction: ctx.tx });
  if (!user || user.status !== 'active') throw new ResetLinkError('account_disabled');
  return { reset, user };
}

/** The person of a link this transaction has just spent (it no longer passes usableReset's checks). */
async function usableUser(ctx: GatewayContext, tokenHash: string): Promise<{ user: User }> {
  const reset = await ctx.models.PasswordReset.findByPk(tokenHash, { transaction: ctx.tx });
  const user = reset ? await ctx.models.User.findByPk(reset.userId, { transaction: ctx.tx }) : null;
  if (!user || user.status !== 'active') throw new ResetLinkError('account_disabled');
  return { user };
}

async function auditRefusal(ctx: GatewayContext, token: string, error: ResetLinkError): Promise<void> {
  const reset = RESET_TOKEN_PATTERN.test(token) ? await ctx.models.PasswordReset.findByPk(hashResetToken(token)) : null;
  const user = reset ? await ctx.models.User.findByPk(reset.userId) : null;
  await audit(
    { ...ctx, tx: undefined },
    {
      action: 'password_reset.refused',
      target: user?.username ?? null,
      outcome: 'failure',
      details: { reason: error.reason },
    },
  );
}
