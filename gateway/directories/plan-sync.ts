import type { Entry } from 'ldapts';
import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import {
  decide,
  levelsOfPeople,
  lookUpPeople,
  placementKey,
  placementsIn,
  readPage,
  rowsOf,
  type Decision,
  type Placement,
  type PlacementsOf,
  type SyncRun,
  type Update,
} from './apply-page.ts';
import { massChangeOf, type MassChange } from './mass-change.ts';
import { passwordChangeStep } from './password-changes.ts';
import { count } from './sync-report.ts';

/*
 * The pass that writes nothing: it reads the directory and decides each page as a sync does (apply-page.ts:
 * the same reading, look-ups and decisions), and counts into its run's report what the sync would do. A dry
 * run is this pass alone; a sync of a directory with a mass change limit runs it first (mass-change.ts).
 */

/** What the pass keeps from page to page besides its run. */
export type Plan = {
  /** This directory's people whose entry a page was found to be (a sync marks their links seen). */
  seen: Set<string>;
  /** Unit paths by id, the units a sync would create included (by a placeholder id). */
  pathOf: Map<string, string>;
};

export const newPlan = (sync: SyncRun): Plan => ({
  seen: new Set(),
  pathOf: new Map([...sync.unitIds].map(([path, id]) => [id, path])),
});

type Rows = (Placement & { isPrimary: boolean })[];

/**
 * One page as applyPage would take it, counted instead of written: whom it would add, update (and move to
 * another primary unit), leave unchanged, enable again and sign out, and the units it would create; and,
 * in the run, whom it found and whom the directory marks disabled (or expired), for planEnd.
 */
export async function planPage(ctx: GatewayContext, sync: SyncRun, plan: Plan, entries: Entry[]): Promise<void> {
  sync.report.entries += entries.length;
  sync.report.pages += 1;
  const read = readPage(sync, entries);
  const known = await lookUpPeople(ctx, sync, read);
  // What an earlier page found, a sync would have marked seen by this run: decide() asks it of second entries.
  for (const link of [...known.linkByUser.values(), ...known.linkByEntryId.values(), ...known.linkByDn.values()])
    if (plan.seen.has(link.userId)) link.seenRun = sync.run;
  const { creates, updates, markedDisabled, seen, passwords } = decide(sync, read, known);
  const placementsOf = planUnits(sync, plan, [...creates, ...updates.map((u) => u.person)]);
  for (const person of creates) count(sync.report, 'added', person.username);
  const before = await membershipsOf(ctx, updates);
  for (const update of updates) planUpdate(sync, plan, update, before.get(update.user.id) ?? [], placementsOf);
  countSignOuts(sync, passwords);
  for (const id of seen) plan.seen.add(id);
  for (const [id, said] of markedDisabled) sync.markedDisabled.set(id, said);
}

/** The units a sync would create for these people, counted and given placeholder ids in this run alone. */
function planUnits(sync: SyncRun, plan: Plan, people: Decision['creates']): PlacementsOf {
  for (const { path } of levelsOfPeople(sync, people)) {
    if (sync.unitIds.has(path)) continue;
    const id = `planned:${path}`;
    sync.unitIds.set(path, id);
    plan.pathOf.set(id, path);
    sync.report.unitsCreated += 1;
  }
  return placementsIn(sync.unitIds);
}

async function membershipsOf(ctx: GatewayContext, updates: Update[]): Promise<Map<string, Rows>> {
  const rows = updates.length
    ? await ctx.models.Membership.findAll({
        where: { userId: { [Op.in]: updates.map((u) => u.user.id) } },
        attributes: ['userId', 'unitId', 'isPrimary', 'administers'],
        raw: true,
        transaction: ctx.tx,
      })
    : [];
  const byUser = new Map<string, Rows>();
  for (const m of rows) {
    const list = byUser.get(m.userId) ?? [];
    list.push({ unitId: m.unitId, isPrimary: Boolean(m.isPrimary), administers: Boolean(m.administers) });
    byUser.set(m.userId, list);
  }
  return byUser;
}

/** What applyUpdate would do to one known person, counted: updated (moved), enabled again, or unchanged. */
function planUpdate(sync: SyncRun, plan: Plan, update: Update, before: Rows, placementsOf: PlacementsOf): void {
  const { person: p, user, link, profile } = update;
  let changed = false;
  if (profile) {
    const rows = rowsOf(user.id, placementsOf(p));
    const from = before.find((r) => r.isPrimary)?.unitId;
    if (placementKey(rows) !== placementKey(before)) changed = true;
    if (user.status === 'active' && rows[0] && from !== rows[0].unitId)
      count(
        sync.report,
        'moved',
        `${user.username} (${(from && plan.pathOf.get(from)) ?? 'no unit'} → ${p.unit.path})`,
      );
    if (user.displayName !== p.displayName || user.email !== p.email || user.roles.join(',') !== p.roles.join(','))
      changed = true;
  }
  const reenabled = !p.disabled && user.status === 'disabled' && link.disabledByDirectory;
  if (reenabled) count(sync.report, 'reenabled', user.username);
  if (changed) count(sync.report, 'updated', user.username);
  else if (profile && !reenabled && !(p.disabled && user.status === 'active')) sync.report.unchanged += 1;
}

/** The active people whose password the directory says changed since it was last noted (note-password-change.ts). */
function countSignOuts(sync: SyncRun, passwords: Decision['passwords']): void {
  if (!sync.settings.passwordChangedAttribute) return;
  for (const { user, link, seen, disabledThere } of passwords)
    if (passwordChangeStep(link.passwordChanged ?? null, seen).changed && !disabledThere && user.status === 'active')
      count(sync.report, 'signedOut', user.username);
}

const LINKS_AT_ONCE = 1000;

/**
 * After the whole read: the directory's active people, and among them whom a sync would disable (gone from
 * the directory, marked disabled there, or expired there), counted into the run's report; and the mass change that makes.
 */
export async function planEnd(ctx: GatewayContext, sync: SyncRun, plan: Plan): Promise<MassChange> {
  const { DirectoryAccount, User } = ctx.models;
  let active = 0;
  let after = '';
  for (;;) {
    const links = await DirectoryAccount.findAll({
      where: { directoryId: sync.directory.id, userId: { [Op.gt]: after } },
      attributes: ['userId'],
      order: [['userId', 'ASC']],
      limit: LINKS_AT_ONCE,
      transaction: ctx.tx,
    });
    if (links.length === 0) break;
    after = links.at(-1)!.userId;
    const users = await User.findAll({
      where: { id: { [Op.in]: links.map((l) => l.userId) }, status: 'active' },
      attributes: ['id', 'username'],
      order: [['username', 'ASC']],
      transaction: ctx.tx,
    });
    active += users.length;
    for (const user of users)
      if (!plan.seen.has(user.id) || sync.markedDisabled.has(user.id)) count(sync.report, 'disabled', user.username);
  }
  return massChangeOf(active, sync.settings.massChangeLimit, sync.report);
}
