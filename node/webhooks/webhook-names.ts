import { nameKey } from '../../core/plain-names.ts';
import { userOf } from '../../protocol/address.ts';
import { searchTextLongEnough } from '../../protocol/search-query.ts';
import type { GatewayLookup } from '../bots/gateway-lookup.ts';
import { askDirectory, USERNAMES_PER_LOOKUP, type GatewayDirectory } from '../federation/directory.ts';

/** Directory lookups of a big group's members asked side by side (USERNAMES_PER_LOOKUP each). */
const LOOKUPS_AT_ONCE = 4;
/** How many people a search of the campus directory for the name reads (its most). */
const SEARCHED = 50;

/** An app as the gateway lists it to a node (`GET /federation/v1/apps`). */
type NamedApp = { slug: string; name: string };

/** Whose name a webhook's name would pass for. */
export interface WebhookNames {
  /**
   * Why `name` cannot be a webhook's among `members` (a conversation's addresses), or null: it is, folded
   * as nameKey folds names, the name or username of one of them, of someone the campus directory finds by
   * it, or the name or slug of an app whose bot this node may host. Throws `directory_unavailable` or
   * `gateway_unavailable` while the gateway cannot say.
   */
  problemOf(name: string, members: Iterable<string>): Promise<string | null>;
}

const WHY = 'a webhook cannot take the name of a person or an app, so that nobody takes its posts for theirs';

export function createWebhookNames(directory: GatewayDirectory, lookUp: GatewayLookup): WebhookNames {
  async function membersNamed(key: string, usernames: string[]): Promise<string | undefined> {
    const byUsername = usernames.find((u) => nameKey(u) === key);
    if (byUsername) return byUsername;
    const batches: string[][] = [];
    for (let i = 0; i < usernames.length; i += USERNAMES_PER_LOOKUP)
      batches.push(usernames.slice(i, i + USERNAMES_PER_LOOKUP));
    for (let i = 0; i < batches.length; i += LOOKUPS_AT_ONCE) {
      const asked = batches.slice(i, i + LOOKUPS_AT_ONCE);
      const answers = await Promise.all(asked.map((b) => askDirectory(directory, { usernames: b.join(',') })));
      const named = answers.flat().find((p) => nameKey(p.name) === key);
      if (named) return named.name;
    }
    return undefined;
  }

  async function campusNamed(name: string, key: string): Promise<string | undefined> {
    if (!searchTextLongEnough(name)) return undefined;
    const found = await askDirectory(directory, { q: name, limit: String(SEARCHED) });
    return found.find((p) => nameKey(p.name) === key)?.name;
  }

  async function appNamed(key: string): Promise<string | undefined> {
    const apps = await lookUp({
      path: '/federation/v1/apps',
      fields: { list: 'apps' },
      // A gateway from before this list has none to give: people and the apps in the group are still checked.
      answers: [404],
      read: async (response) => (response.status === 404 ? [] : ((await response.json()) as { apps: NamedApp[] }).apps),
      unreachable: "The identity gateway cannot be reached to check the name against apps' names; try again",
    });
    return apps.find((a) => nameKey(a.name) === key || nameKey(a.slug) === key)?.name;
  }

  return {
    async problemOf(name, members) {
      const key = nameKey(name);
      if (key === '') return null;
      const usernames = [...new Set([...members].map(userOf))];
      const member = await membersNamed(key, usernames);
      if (member !== undefined) return `${member} is the name of a member of this group: ${WHY}`;
      const app = await appNamed(key);
      if (app !== undefined) return `${app} is the name of an app: ${WHY}`;
      const person = await campusNamed(name, key);
      if (person !== undefined) return `${person} is the name of someone on campus: ${WHY}`;
      return null;
    },
  };
}
