import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';

/**
 * How many gateway sessions of the person are open: one per browser or device signed in, whichever
 * apps it then opened. What an administrator is told ends when the person's access ends.
 */
export function openSessionsOf(ctx: GatewayContext, userId: string, now = new Date()): Promise<number> {
  return ctx.models.OidcPayload.count({
    where: {
      model: 'Session',
      accountId: userId,
      [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: now } }],
    },
    transaction: ctx.tx,
  });
}
