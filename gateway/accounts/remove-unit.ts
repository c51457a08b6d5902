import { Op } from 'sequelize';
import { ConflictError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { OrgUnit } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { isWithin } from './scope.ts';
import { membersOfUnit, unmanageable } from './unit-members.ts';
import { assertMayShape, findUnit } from './units.ts';

const SHOWN = 5;

/** Up to a handful of names, then how many more: a college may have thousands of members. */
export function fewNames(names: string[]): string {
  const shown = names.slice(0, SHOWN).join(', ');
  return names.length > SHOWN ? `${shown} and ${names.length - SHOWN} more` : shown;
}

async function childUses(ctx: GatewayContext, unit: OrgUnit): Promise<string[]> {
  const children = await ctx.models.OrgUnit.findAll({
    where: { parentId: unit.id },
    attributes: ['path'],
    order: [['path', 'ASC']],
    transaction: ctx.tx,
  });
  return children.length > 0 ? [`child units ${fewNames(children.map((c) => c.path))}`] : [];
}

async function peopleUses(ctx: GatewayContext, unit: OrgUnit): Promise<string[]> {
  const memberships = await ctx.models.Membership.findAll({ where: { unitId: unit.id }, transaction: ctx.tx });
  if (memberships.length === 0) return [];
  const people = await ctx.models.User.findAll({
    where: { id: { [Op.in]: memberships.map((m) => m.userId) } },
    attributes: ['id', 'username', 'roles'],
    order: [['username', 'ASC']],
    transaction: ctx.tx,
  });
  const membershipOf = new Map(memberships.map((m) => [m.userId, m]));
  const members = people.map((p) => `${p.username}${membershipOf.get(p.id)?.isPrimary ? ' (primary unit)' : ''}`);
  const admins = people.filter((p) => membershipOf.get(p.id)?.administers && p.roles.includes('unit-admin'));
  return [
    `${people.length} ${people.length === 1 ? 'member' : 'members'}: ${fewNames(members)}`,
    ...(admins.length > 0 ? [`unit admins who administer it: ${fewNames(admins.map((p) => p.username))}`] : []),
  ];
}

async function domainUses(ctx: GatewayContext, unit: OrgUnit): Promise<string[]> {
  const links = await ctx.models.DomainUnit.findAll({ where: { unitId: unit.id }, transaction: ctx.tx });
  if (links.length === 0) return [];
  const domains = await ctx.models.Domain.findAll({
    where: { id: { [Op.in]: links.map((l) => l.domainId) } },
    attributes: ['name'],
    order: [['name', 'ASC']],
    transaction: ctx.tx,
  });
  return [`served by domain ${fewNames(domains.map((d) => d.name))}`];
}

/** Apps, the second-factor policy and directories name units by path, and cover the units below it too. */
async function settingUses(ctx: GatewayContext, unit: OrgUnit): Promise<string[]> {
  const names = (path: string | null | undefined) => path != null && isWithin(path, unit.path);
  const apps = await ctx.models.App.findAll({ order: [['slug', 'ASC']], transaction: ctx.tx });
  const requirements = await ctx.models.FactorRequirement.findAll({ where: { kind: 'unit' }, transaction: ctx.tx });
  const directories = await ctx.models.Directory.findAll({
    attributes: ['name', 'settings'],
    order: [['name', 'ASC']],
    transaction: ctx.tx,
  });
  const uses: string[] = [];
  const owning = apps.filter((a) => names(a.ownerUnit)).map((a) => a.slug);
  if (owning.length > 0) uses.push(`owner unit of app ${fewNames(owning)}`);
  const showing = apps.filter((a) => a.visibilityUnits.some(names)).map((a) => a.slug);
  if (showing.length > 0) uses.push(`in the visibility of app ${fewNames(showing)}`);
  const required = requirements.filter((r) => names(r.value)).map((r) => r.value);
  if (required.length > 0) uses.push(`the second-factor policy requires it (${fewNames(required)})`);
  for (const directory of directories) {
    // Read leniently: a row the directory code would refuse must still not let its unit go unnoticed.
    const settings = JSON.parse(directory.settings) as { unitRoot?: string; roleGroups?: { unit?: string | null }[] };
    if (names(settings.unitRoot)) uses.push(`unit root of directory ${directory.name}`);
    if ((settings.roleGroups ?? []).some((g) => names(g.unit)))
      uses.push(`a unit-admin group of directory ${directory.name}`);
  }
  return uses;
}

/** Everything that still names the unit, one phrase each; empty when it may go. */
export async function usesOfUnit(ctx: GatewayContext, unit: OrgUnit): Promise<string[]> {
  // One after another: inside a transaction they share its one connection anyway.
  const uses: string[] = [];
  for (const find of [childUses, peopleUses, domainUses, settingUses]) uses.push(...(await find(ctx, unit)));
  return uses;
}

/** The ways there are to move a unit's people elsewhere, for the refusal to remove it while it has some. */
export const cliMoving = (path: string) =>
  `To move its members: all at once with atrium units move-members ${path} OTHER-UNIT, or one person at a time` +
  ` on their page in the admin console (Users) or with atrium users update USERNAME --remove-unit ${path} --add-unit OTHER-UNIT.`;

/**
 * A unit still in use, with what uses it. While it has members, the refusal says how to move them, in the
 * words of whoever asks (`moving`: the CLI's unless told), and names those only a campus administrator
 * can move when a unit admin asks.
 */
export class UnitInUseError extends ConflictError {
  readonly unitPath: string;
  readonly uses: string[];
  readonly hasMembers: boolean;
  readonly onlyCampusAdmins: string[];

  constructor(unitPath: string, uses: string[], hasMembers: boolean, onlyCampusAdmins: string[], moving = cliMoving) {
    const campus =
      onlyCampusAdmins.length > 0
        ? ` Only a campus administrator can move ${fewNames(onlyCampusAdmins)}: ${onlyCampusAdmins.length === 1 ? 'they are a campus administrator or belong' : 'they are campus administrators or belong'} to units outside yours.`
        : '';
    super(
      `Unit ${unitPath} is still in use: ${uses.join('; ')}. Move or remove those first.${hasMembers ? ` ${moving(unitPath)}${campus}` : ''}`,
    );
    this.unitPath = unitPath;
    this.uses = uses;
    this.hasMembers = hasMembers;
    this.onlyCampusAdmins = onlyCampusAdmins;
  }

  /** The same refusal, with the ways to move its members told as `moving` says them. */
  saying(moving: (path: string) => string): UnitInUseError {
    return new UnitInUseError(this.unitPath, this.uses, this.hasMembers, this.onlyCampusAdmins, moving);
  }
}

/**
 * Removes a unit nothing uses any more (a typo, a closed department). One still in use is refused with
 * what uses it, so nobody loses a unit, a home domain or an app silently.
 */
export async function removeUnit(ctx: GatewayContext, path: string): Promise<{ path: string; name: string }> {
  const wanted = path.trim().toLowerCase();
  assertMayShape(ctx.actor, wanted, 'remove');
  return inTransaction(ctx, async (ctx) => {
    const unit = await findUnit(ctx, wanted);
    const uses = await usesOfUnit(ctx, unit);
    if (uses.length > 0) {
      const { members, units } = await membersOfUnit(ctx, unit.id);
      throw new UnitInUseError(unit.path, uses, members.length > 0, unmanageable(ctx, members, units));
    }
    await unit.destroy({ transaction: ctx.tx });
    await audit(ctx, { action: 'unit.remove', target: unit.path, details: { name: unit.name } });
    return { path: unit.path, name: unit.name };
  });
}
