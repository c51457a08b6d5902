import { foldForSearch } from '../../core/search-text.ts';
import { userById } from '../accounts/find-user.ts';
import { unitPathsOf } from '../accounts/memberships.ts';
import { audiencesFor } from '../apps-registry/app-access.ts';
import { canSee, type Viewer } from '../apps-registry/visible-apps.ts';
import type { GatewayContext } from '../context.ts';
import { domainsServing } from '../domains/domains.ts';
import type { DirectoryAsker, DirectoryPerson } from './directory-search.ts';

/**
 * Apps' bots a search finds for the person who searches, at the asking node's address of them
 * (`slug@origin`): the bots of apps that are enabled and registered with a bot (those the node takes as
 * members: an address nobody else has), which that node may host (the rule of its bots' tokens), and
 * which are for the searcher (canSee, the rule of the workbench and of the app's sign-in): only people who
 * can use an app find its bot and add it somewhere. Matched by the app's name, its slug or the bot's
 * whole address; each is marked `app` so that nobody takes it for a person. A campus registers tens of
 * apps, so they are read whole and matched here.
 */
export async function searchBots(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  searcherId: string | undefined,
  text: string,
  limit: number,
): Promise<DirectoryPerson[]> {
  const viewer = await searcherOf(ctx, asker, searcherId);
  if (!viewer) return [];
  const folded = foldForSearch(text);
  const apps = await ctx.models.App.findAll({
    where: { botEnabled: true, disabled: false },
    attributes: ['slug', 'name', 'clientId', 'disabled', 'ownerUnit', 'visibilityUnits', 'visibilityRoles'],
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
    if (!matches || !canSee(viewer, app)) continue;
    if (!(await audiencesFor(ctx, app.clientId, null))?.has(asker.origin)) continue;
    found.push({ name: app.name, username: app.slug, address, addresses: [address], units: [], app: true });
  }
  return found;
}

/**
 * The person a node searches for (its user's `sub`), as the workbench sees them; undefined when the node
 * named nobody (a node before it named its searcher), or someone who is not an active account that node
 * serves: a node speaks for its own people only, never to borrow the reach of someone elsewhere.
 */
async function searcherOf(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  searcherId: string | undefined,
): Promise<Viewer | undefined> {
  if (!searcherId) return undefined;
  const user = await userById(ctx, searcherId);
  if (!user || user.status !== 'active') return undefined;
  const unitPaths = await unitPathsOf(ctx, user);
  if (!(await domainsServing(ctx, unitPaths)).includes(asker.origin)) return undefined;
  return { unitPaths, roles: user.roles };
}
