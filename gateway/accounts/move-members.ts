import { Op } from 'sequelize';
import { z } from 'zod';
import { AppError, ConflictError, ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { chatMoveOf } from './chat-moves.ts';
import { fewNames } from './remove-unit.ts';
import { unitPathSchema } from './schemas.ts';
import { assertCovers, isWithin } from './scope.ts';
import { membersOfUnit, unmanageable } from './unit-members.ts';
import { findUnit } from './units.ts';
import { editUser } from './update-user.ts';

const moveSchema = z.object({
  from: unitPathSchema,
  to: unitPathSchema,
  /** Confirms taking people off a domain they chat on (chat-moves.ts). */
  moveChat: z.boolean().optional(),
  /** The members a form showed (usernames): the move is refused once the unit has others. */
  members: z.array(z.string()).optional(),
});

/** People of a campus directory left where they were: their units are the directory's to say. */
export type LeftToDirectory = {
  directory: string;
  people: string[];
  /** Whether the directory places anyone in the unit (below its unit root, or a unit-admin group's unit). */
  placesThere: boolean;
};

/** A domain the move took people off, with whom (their direct conversations there stay on its node). */
export type DomainLeft = { domain: string; people: string[] };

export type MovedMembers = {
  from: string;
  to: string;
  moved: string[];
  /** Unit admins among those moved: a local unit admin administers every unit they are in, `to` now too. */
  unitAdmins: string[];
  left: LeftToDirectory[];
  domainsLeft: DomainLeft[];
  /** Members a unit admin may not manage (campus administrators, people of units outside theirs): left. */
  leftToCampusAdmins: string[];
  /** Members the unit still has: the directory's people and those left to campus administrators, or nobody. */
  remaining: number;
};

/** Moving a unit's members would take some off a domain they chat on: refused, with who and where, unconfirmed. */
export class MembersChatMoveError extends AppError {
  readonly domainsLeft: DomainLeft[];

  constructor(domainsLeft: DomainLeft[], confirm = 'confirm moving their chat to go ahead') {
    const parts = domainsLeft.map(
      (d) =>
        `${d.people.length} ${d.people.length === 1 ? 'person' : 'people'} off ${d.domain} (${fewNames(d.people)})`,
    );
    super(
      'moves_chat',
      409,
      `This takes ${parts.join('; ')}: their direct conversations there stay on its node, out of their reach; ` +
        'their groups follow them where they chat now. ' +
        `Nobody was moved. To go ahead, ${confirm}.`,
      { domainsLeft: domainsLeft.map((d) => ({ domain: d.domain, people: d.people.length })) },
    );
    this.domainsLeft = domainsLeft;
  }
}

/** `from` replaced by `to` among the person's units (the primary first), where it stood. */
const replaced = (paths: string[], from: string, to: string) => [
  ...new Set(paths.map((path) => (path === from ? to : path))),
];

type Settings = { unitRoot?: string; roleGroups?: { unit?: string | null }[] };

/**
 * The directory people among the members, by directory: the sync writes their units from their entries,
 * so moving them here would last until its next run (which makes again a unit it places people in).
 */
async function directoryPeople(ctx: GatewayContext, people: User[], from: string): Promise<LeftToDirectory[]> {
  const links = await ctx.models.DirectoryAccount.findAll({
    where: { userId: { [Op.in]: people.map((p) => p.id) } },
    attributes: ['userId', 'directoryId'],
    transaction: ctx.tx,
  });
  if (links.length === 0) return [];
  const directories = await ctx.models.Directory.findAll({
    where: { id: { [Op.in]: [...new Set(links.map((l) => l.directoryId))] } },
    attributes: ['id', 'name', 'settings'],
    order: [['name', 'ASC']],
    transaction: ctx.tx,
  });
  const usernameOf = new Map(people.map((p) => [p.id, p.username]));
  return directories.map((directory) => {
    // Read leniently, as remove-unit.ts does: a row the directory code would refuse still names its units.
    const settings = JSON.parse(directory.settings) as Settings;
    const placesThere =
      (settings.unitRoot !== undefined && isWithin(from, settings.unitRoot)) ||
      (settings.roleGroups ?? []).some((g) => g.unit === from);
    const members = links.filter((l) => l.directoryId === directory.id).map((l) => usernameOf.get(l.userId)!);
    return { directory: directory.name, people: members.sort(), placesThere };
  });
}

/** A form that showed other members than the unit has now would move people nobody saw: refused. */
function assertShown(from: string, members: User[], shown: string[] | undefined): void {
  if (shown === undefined) return;
  const now = members.map((m) => m.username).sort();
  const was = [...new Set(shown)].sort();
  if (now.join('\n') === was.join('\n')) return;
  const list = now.length > 0 ? `${now.length} now: ${fewNames(now)}` : 'none now';
  throw new ConflictError(
    `The members of ${from} changed since this page showed them (${list}). Nobody was moved; check them and move again.`,
  );
}

/** Who among `people` the new units take off a domain they chat on, by domain. */
async function domainsLeftBy(ctx: GatewayContext, people: User[], newUnits: Map<string, string[]>) {
  const byDomain = new Map<string, string[]>();
  for (const person of people) {
    const move = await chatMoveOf(ctx, person, newUnits.get(person.id)!);
    for (const domain of move?.leaves ?? []) byDomain.set(domain, [...(byDomain.get(domain) ?? []), person.username]);
  }
  return [...byDomain].map(([domain, names]) => ({ domain, people: names }));
}

/**
 * Moves every member of a unit to another (a department merged or closed): `from` becomes `to` among
 * each person's units, their primary unit where it was. Each person is changed by editUser, as the
 * console's form would, and audited so; one `unit.move_members` line sums it up. People of a campus
 * directory stay (`left`): their units are the directory's, and its next sync would undo the move; so do
 * those a unit admin may not manage (`leftToCampusAdmins`), as the user form would refuse them. All or
 * nothing otherwise: a move that takes anyone off a domain they chat on is refused unless `moveChat`
 * confirms it, and one from a form that showed other members than the unit has now (`members`) is refused.
 */
export async function moveMembers(ctx: GatewayContext, input: unknown): Promise<MovedMembers> {
  const { from, to, moveChat, members: shown } = parseInput(moveSchema, input);
  if (from === to)
    throw new ValidationError(`${from} is the unit they would leave; choose another unit to move them to`, {
      to: 'the same unit as the one they leave',
    });
  assertCovers(ctx.actor, [from, to]);
  return inTransaction(ctx, async (ctx) => {
    const fromUnit = await findUnit(ctx, from);
    await findUnit(ctx, to);
    const { members, units: current } = await membersOfUnit(ctx, fromUnit.id);
    assertShown(from, members, shown);
    const left = await directoryPeople(ctx, members, from);
    const kept = new Set(left.flatMap((l) => l.people));
    const leftToCampusAdmins = unmanageable(
      ctx,
      members.filter((m) => !kept.has(m.username)),
      current,
    );
    for (const name of leftToCampusAdmins) kept.add(name);
    const people = members.filter((m) => !kept.has(m.username));
    const newUnits = new Map(people.map((p) => [p.id, replaced(current.get(p.id) ?? [], from, to)]));
    const domainsLeft = await domainsLeftBy(ctx, people, newUnits);
    if (domainsLeft.length > 0 && !moveChat) throw new MembersChatMoveError(domainsLeft);
    for (const person of people) await editUser(ctx, person.id, { units: newUnits.get(person.id), moveChat });
    const result: MovedMembers = {
      from,
      to,
      moved: people.map((p) => p.username),
      unitAdmins: people.filter((p) => p.roles.includes('unit-admin')).map((p) => p.username),
      left,
      leftToCampusAdmins,
      domainsLeft,
      remaining: members.length - people.length,
    };
    if (people.length > 0)
      await audit(ctx, {
        action: 'unit.move_members',
        target: from,
        details: {
          to,
          moved: people.length,
          leftToDirectory: result.remaining - leftToCampusAdmins.length,
          ...(leftToCampusAdmins.length > 0 ? { leftToCampusAdmins: leftToCampusAdmins.length } : {}),
          domainsLeft: domainsLeft.map((d) => ({ domain: d.domain, people: d.people.length })),
        },
      });
    return result;
  });
}
