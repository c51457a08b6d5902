import { Op, type WhereOptions } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import { foldForSearch } from '../../core/search-text.ts';
import { allowed, type Registry } from '../../protocol/registry-client.ts';
import { accountClaims } from '../accounts/account-claims.ts';
import type { GatewayContext } from '../context.ts';
import { searchBots } from './directory-bots.ts';
import type { User } from '../models/index.ts';
import { remember, withMemo } from '../request-memo.ts';
import { sharedReadsOf } from '../shared-reads.ts';
import type { DirectoryPerson } from '../../protocol/directory-person.ts';

/** One person as the directory answers a domain node (protocol/directory-person.ts). */
export type { DirectoryPerson };

/** Who asks: the domain node's name, and the registry whose policy says which domains it may see. */
export type DirectoryAsker = { origin: string; registry: Registry };

// Policy drops some of the people a query returns: each query reads this many times the limit.
const OVERFETCH = 3;

/**
 * A person as `asker` may see them: at their addresses on the domains its policy lets it see (home first
 * when that is one of them), or undefined when it may see none.
 */
export async function presentVisible(ctx: GatewayContext, asker: DirectoryAsker, user: User) {
  const claims = await accountClaims(ctx, user);
  const visible = claims.im_domains.filter((d) => allowed(asker.registry, asker.origin, d));
  if (visible.length === 0) return undefined;
  const home = claims.im_home_domain && visible.includes(claims.im_home_domain) ? claims.im_home_domain : visible[0]!;
  return {
    name: claims.name,
    username: claims.preferred_username,
    address: `${claims.preferred_username}@${home}`,
    addresses: visible.map((d) => `${claims.preferred_username}@${d}`),
    units: claims.org_units,
  } satisfies DirectoryPerson;
}

/** Adds to `people` those of `users` the asker may see, in order, until there are `limit`. */
async function addVisible(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  users: User[],
  people: DirectoryPerson[],
  limit: number,
): Promise<void> {
  for (const user of users) {
    if (people.length >= limit) return;
    const person = await presentVisible(ctx, asker, user);
    if (person) people.push(person);
  }
}

/** Named people (a group's members, for their names): active accounts the asker may see. */
export async function lookUpPeople(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  usernames: string[],
): Promise<DirectoryPerson[]> {
  const users = await ctx.models.User.findAll({ where: { status: 'active', username: { [Op.in]: usernames } } });
  const people: DirectoryPerson[] = [];
  await addVisible(ctx, asker, users, people, usernames.length);
  return people;
}

/**
 * A search for the person `searcherId` (their `sub`, as the asking node names them): the bots of apps
 * for that person whose name, slug or bot address holds the text (directory-bots.ts), then
 * active people whose own name, username or address's local part holds the text, then, after
 * them, the direct members of units whose name holds it ("computer" finds the Department of Computer
 * Science's people), at most `limit` together, only those the asker may see. Members of the units below
 * a matching unit are not listed: "engineering" would otherwise list a whole college, thousands of people
 * in an order nobody could use, and a department is found by its own name.
 */
export async function searchPeople(
  ctx: GatewayContext,
  asker: DirectoryAsker,
  text: string,
  limit: number,
  searcherId?: string,
): Promise<DirectoryPerson[]> {
  const folded = foldForSearch(text);
  // Apps first: a campus has few, and a search that finds one by its name is most likely for it.
  const people: DirectoryPerson[] = await searchBots(ctx, asker, searcherId, text, limit);
  if (people.length >= limit) return people;
  const byOwnText = await activeUsers(ctx, { searchText: like(ctx.sequelize, ownTextPattern(folded)) }, limit);
  await addVisible(ctx, asker, byOwnText, people, limit);
  if (people.length >= limit) return people;
  const units = await unitsNamed(ctx, folded);
  if (units.length === 0) return people;
  const members = ctx.sequelize.literal(
    `(SELECT user_id FROM memberships WHERE unit_id IN (${units.map((id) => ctx.sequelize.escape(id)).join(', ')}))`,
  );
  const found = byOwnText.map((u) => u.id);
  const byUnit = await activeUsers(
    ctx,
    { id: found.length > 0 ? { [Op.in]: members, [Op.notIn]: found } : { [Op.in]: members } },
    limit,
  );
  await addVisible(ctx, asker, byUnit, people, limit);
  return people;
}

function activeUsers(ctx: GatewayContext, where: WhereOptions<User>, limit: number): Promise<User[]> {
  return ctx.models.User.findAll({
    where: { [Op.and]: [{ status: 'active' }, where] },
    order: [['displayName', 'ASC']],
    limit: limit * OVERFETCH,
  });
}

/**
 * The pattern of a person's search text (username, name, email: one a line, the address last; see
 * models/accounts.ts) that holds `folded` outside the address's domain. Text found with an "@" after it
 * lies before the address's own "@"; the domain alone would match nearly everyone ("ca" in campus.test).
 * A search with an "@" in it is for an address, and matches it as typed.
 */
function ownTextPattern(folded: string): string {
  return folded.includes('@') ? containsPattern(folded) : `${containsPattern(folded)}@%`;
}

/**
 * The ids of units whose name, folded as a search folds (core/search-text.ts), holds `folded`. Units have
 * no folded column: a campus has hundreds of them, not the people's tens of thousands, so their names are
 * folded here, once while no unit changes (request-memo.ts: any unit written drops what is kept).
 */
async function unitsNamed(ctx: GatewayContext, folded: string): Promise<string[]> {
  const kept = withMemo(ctx, sharedReadsOf(ctx.sequelize));
  const units = await remember(kept, 'directory:folded-unit-names', async () => {
    const all = await ctx.models.OrgUnit.findAll({ attributes: ['id', 'name'] });
    return all.map((unit) => ({ id: unit.id, name: foldForSearch(unit.name) }));
  });
  return units.filter((unit) => unit.name.includes(folded)).map((unit) => unit.id);
}
