import { Op } from 'sequelize';
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../../core/errors.ts';
import { isFullAdmin } from '../../accounts/scope.ts';
import { audit } from '../../audit.ts';
import type { GatewayContext } from '../../context.ts';
import { inTransaction } from '../../transaction.ts';

const SETTING = 'passwordless';
const switchSchema = z.enum(['on', 'off']);

/** Whether people may sign in with a passkey alone (off until an administrator turns it on). */
export async function passwordlessAllowed(ctx: GatewayContext): Promise<boolean> {
  const row = await ctx.models.FactorSetting.findByPk(SETTING, { transaction: ctx.tx });
  return row?.value === 'on';
}

/**
 * The active people who sign in with a passkey alone: a passkey, and neither a password nor a directory's.
 * With passwordless sign-in off, they cannot sign in until they get a password.
 */
export async function passkeyOnlyPeople(ctx: GatewayContext): Promise<number> {
  const { Passkey, DirectoryAccount, User } = ctx.models;
  const owners = [
    ...new Set((await Passkey.findAll({ attributes: ['userId'], transaction: ctx.tx })).map((p) => p.userId)),
  ];
  if (owners.length === 0) return 0;
  const linked = await DirectoryAccount.findAll({
    where: { userId: { [Op.in]: owners } },
    attributes: ['userId'],
    transaction: ctx.tx,
  });
  const fromDirectory = new Set(linked.map((l) => l.userId));
  const candidates = owners.filter((id) => !fromDirectory.has(id));
  if (candidates.length === 0) return 0;
  return User.count({
    where: { id: { [Op.in]: candidates }, passwordHash: null, status: 'active' },
    transaction: ctx.tx,
  });
}

/** Turns sign-in with a passkey alone on or off for everyone; like the rest of the policy, for full administrators. */
export async function setPasswordless(ctx: GatewayContext, input: unknown): Promise<boolean> {
  if (!isFullAdmin(ctx.actor))
    throw new ForbiddenError('Only campus administrators may change the second-factor policy');
  const parsed = switchSchema.safeParse(input);
  if (!parsed.success) throw new ValidationError('Say on or off', { passwordless: 'on or off' });
  return inTransaction(ctx, async (ctx) => {
    await ctx.models.FactorSetting.upsert(
      { name: SETTING, value: parsed.data, updatedAt: new Date() },
      { transaction: ctx.tx },
    );
    await audit(ctx, { action: 'mfa.passwordless', target: parsed.data });
    return parsed.data === 'on';
  });
}
