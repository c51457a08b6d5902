import type { GatewayContext } from '../context.ts';
import { remember } from '../request-memo.ts';

/**
 * Every registered domain node's URL by its domain's name: the URL an app names as `resource` for a token
 * of that node, and gives the SDK as the node's URL. One small statement, kept between requests until a
 * domain changes (shared-reads.ts), since every token for a person asks it.
 */
export function nodeUrls(ctx: GatewayContext): Promise<Map<string, string>> {
  return remember(ctx, 'node-urls', async () => {
    const domains = await ctx.models.Domain.findAll({
      attributes: ['name', 'url'],
      order: [['name', 'ASC']],
      transaction: ctx.tx,
    });
    return new Map(domains.map((d) => [d.name, d.url]));
  });
}
