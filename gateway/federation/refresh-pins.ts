import { Op } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import { operator, type GatewayContext } from '../context.ts';
import { pinDomainKeys } from './pin-domain.ts';

/**
 * Re-reads the keys of every pinned domain. A node's rotation is accepted because the new document is
 * signed by a pinned key; anything else is refused and logged, and the old pin stays.
 */
export async function refreshPins(ctx: GatewayContext, logger: Logger): Promise<void> {
  const pinned = await ctx.models.Domain.findAll({ where: { pinnedKeys: { [Op.ne]: null } }, attributes: ['name'] });
  for (const { name } of pinned) {
    try {
      const { changed } = await pinDomainKeys({ ...ctx, actor: operator('pin-refresh') }, name);
      if (changed) logger.info({ domain: name }, 'followed a key rotation');
    } catch (error) {
      logger.warn({ err: error, domain: name }, 'could not refresh pinned keys');
    }
  }
}
