import { Op } from 'sequelize';
import type { GatewayModels } from '../models/index.ts';

/**
 * Deletes reset links a day after they expired. Kept that day so a late click is still answered
 * "expired" (and audited as such) rather than "not valid".
 */
export async function sweepPasswordResets(models: GatewayModels, now = new Date()): Promise<number> {
  return models.PasswordReset.destroy({ where: { expiresAt: { [Op.lt]: new Date(now.getTime() - 24 * 3_600_000) } } });
}
