import { foldForSearch } from '../../core/search-text.ts';
import { audiencesFor } from '../apps-registry/app-access.ts';
import type { GatewayContext } from '../context.ts';
import type { DirectoryAsker, DirectoryPerson } from './directory-search.ts';

/**
 * Apps' bots a search finds for the node that asks, at that node's address of them (`slug@origin`): the
 * bots of apps that are enabled and registered with a bot (those the node takes as members: an address
 * nobody else has), which that node may host (the rule of its bots' tokens), by the app's name, its slug
 * or the bot's whole address. People invite them into groups and open direct chats with them; each is
 * marked `app` so that nobody takes it for a person. A campus registers tens of apps, so they are read
 * whole and matched here.
 */
export async function searchBots(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  text: string,
  limit: number,
): Promise<DirectoryPerson[]> {
  const folded = foldForSearch(text);
  const apps = await ctx.models.App.findAll({
    where: { botEnabled: true, disabled: false },
    attributes: ['slug', 'name', 'clientId'],
    order: [['name', 'ASC']],
    transaction: ctx.tx,
  });
  const found: DirectoryPerson[] = [];
  for (const app of apps) {
    if (found.length >= limit) break;
    const address = `${app.slug}@${asker.origin}`;
    const matches = folded.includes('@')
      ? address.includes(folded)
      : foldForSearch(app.name).includes(folded) || app.slug.includes(folded);
    if (!matches || !(await audiencesFor(ctx, app.clientId, null))?.has(asker.origin)) continue;
    found.push({ name: app.name, username: app.slug, address, addresses: [address], units: [], app: true });
  }
  return found;
}
