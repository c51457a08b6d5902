import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import type { Client, Entry } from 'ldapts';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { assertFullAdmin } from '../accounts/scope.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { Directory, DirectoryAccount } from '../models/directories.ts';
import { inTransaction } from '../transaction.ts';
import { applyPage, disableForDirectory, newSyncRun, type SyncRun } from './apply-page.ts';
import { closeQuietly, endpointOf, openDirectory, unavailable, type DirectoryEndpoint } from './connection.ts';
import { DirectoryUnavailableError } from './errors.ts';
import { normalizeDn } from './dn.ts';
import { findDirectory } from './find-directory.ts';
import { PAGE_SIZE } from './presets.ts';
import { idBufferAttributes } from './entry-id.ts';
import { attributesToRead, type GroupsOf } from './read-entry.ts';
import { readRoleGroups, RoleGroupUnreadableError } from './role-groups.ts';
import type { DirectorySettings } from './schemas.ts';
import { takeLease } from './sync-lease.ts';
import { unservedUnits } from './unserved-units.ts';
import { keptAsLastAdministrator } from './keep-last-administrator.ts';
import { MassChangeError, type MassChange } from './mass-change.ts';
import { newPlan, planEnd, planPage } from './plan-sync.ts';
import {
  count,
  type DisabledThere,
  emptyReport,
  keepAdministrator,
  REPORT_LIST_LIMIT,
  type Overruled,
  type SyncReport,
} from './sync-report.ts';

/** `total` is known when the sync was asked to count first (the CLI's progress bar); `checking` is the pass before. */
export type SyncProgress = {
  phase: 'checking' | 'reading' | 'disabling';
  entries: number;
  pages: number;
  total: number | null;
};
export type SyncDeps = {
  sealer: Sealer;
  logger?: Logger;
  onProgress?: (progress: SyncProgress) => void;
  /** Count the entries before reading them, for a progress bar with an end (one more paged search, of names only). */
  countFirst?: boolean;
  /** Stops the sync between two pages (the gateway shutting down); nobody is disabled then. */
  signal?: AbortSignal;
  /** Only say what a sync would do (plan-sync.ts): nothing is written, the registration's last report included. */
  dryRun?: boolean;
  /** An administrator confirmed this one sync although it disables or moves more than the limit (mass-change.ts). */
  allowMassChange?: boolean;
};

const stopped = () =>
  new AppError('sync_stopped', 503, 'the sync was stopped before its end (the gateway is shutting down)');

/** The directory answered, but nobody under the user base matched: most likely a wrong base or filter. */
class EmptyDirectoryError extends AppError {
  constructor(settings: DirectorySettings, people: number) {
    super(
      'directory_empty',
      409,
      `the directory returned nobody under ${settings.userBase} matching ${settings.userFilter}, while ${people} people came from it; ` +
        'nobody was disabled (check the user base and filter, or remove the directory)',
    );
  }
}

/**
 * The directory returned entries, but none could be read into a person: most likely a username, name or
 * email attribute that is misspelt or that the service account may not read. Nobody can tell who is gone.
 */
class UnreadableDirectoryError extends AppError {
  constructor(sync: SyncRun, people: number) {
    const first = sync.report.names.refused[0];
    const example = first ? ` (${first.dn}: ${first.reason})` : '';
    super(
      'directory_unreadable',
      409,
      `none of the ${sync.report.entries} entries the directory returned could be read${example}, while ${people} ` +
        'people came from it; nobody was disabled (check the attribute settings and what the service account may read)',
    );
  }
}

/**
 * Half the entries read or more carry the username of someone whose link keeps another entry's id: a
 * directory rebuilt with new ids (an export loaded anew), not people who left with their usernames given
 * to others. Disabling them all as gone would lock the campus out.
 */
class IdsChangedError extends AppError {
  constructor(sync: SyncRun) {
    super(
      'directory_ids_changed',
      409,
      `${sync.otherIds} of the ${sync.readable} entries read carry the username of someone whose entry had another ` +
        `${sync.settings.idAttribute}: the directory looks rebuilt with new entry ids. Nobody was disabled; if it was ` +
        `rebuilt, run atrium directories update ${sync.directory.name} --forget-entry-ids (console: "Forget the entry ids its people are linked by") and sync again`,
    );
  }
}

/**
 * Brings Atrium's people and units in line with one directory: reads every entry under the user base
 * in pages of PAGE_SIZE (Active Directory's maximum), applies each page in its own short transaction,
 * and, only once the whole directory was read, disables the people it marks disabled and those it
 * brought earlier that it no longer has. A sync that fails part-way disables nobody. One sync per
 * directory at a time (sync-lease.ts). The report is kept on the registration and written to the audit
 * log, failed or not.
 *
 * A directory with a mass change limit is first read by a pass that writes nothing (plan-sync.ts): a sync
 * that would disable or move more of its people than the limit allows changes nothing (mass-change.ts)
 * unless `allowMassChange`. A dry run is that pass alone; its report is audited, not kept.
 */
export async function syncDirectory(ctx: GatewayContext, deps: SyncDeps, name: string): Promise<SyncReport> {
  assertFullAdmin(ctx.actor);
  const directory = await findDirectory(ctx, name);
  const lease = await takeLease(ctx, directory);
  const started = new Date();
  const clock = performance.now();
  const report = emptyReport(directory.name, randomUUID(), started);
  if (deps.dryRun) report.dryRun = true;
  let client: Client | null = null;
  // What the library said when the directory failed, for IT in the audit log; the report says it plainly.
  let cause: string | undefined;
  try {
    const endpoint = endpointOf(directory, deps.sealer);
    const settings = endpoint.settings;
    client = await openDirectory(endpoint);
    const groupsOf = await groupsOfPeople(client, directory.name, settings, report, deps.logger);
    const first = await readNamesFirst(ctx, client, directory, settings, deps);
    const pass: Pass = { report, client, endpoint, deps, renew: lease.renew, ...first };
    const run = { directory, settings, groupsOf, dnsPresent: pass.dnsPresent };
    // A pass that writes nothing comes first when a limit guards the directory: a sync over it changes nothing.
    if (deps.dryRun || settings.massChangeLimit !== null) {
      await checkFirst(ctx, pass, await newSyncRun(ctx, { ...run, report: planReport(report, deps, started) }));
      if (deps.dryRun) return report;
    }
    const sync = await newSyncRun(ctx, { ...run, report });
    await readAll(pass, sync, 'reading', (entries) => applyPage(ctx, sync, entries));
    await disableAfterRead(ctx, sync, deps, lease.renew, pass.total);
    report.unservedUnits = await unservedUnits(ctx, directory);
  } catch (error) {
    report.outcome = 'failure';
    report.error = describeFailure(error);
    if (error instanceof DirectoryUnavailableError) {
      cause = error.rawCause;
      deps.logger?.warn({ directory: directory.name, cause }, `directory sync failed: ${report.error}`);
    } else if (!(error instanceof AppError))
      deps.logger?.error({ err: error, directory: directory.name }, 'directory sync failed');
  } finally {
    if (client) await closeQuietly(client);
    report.durationMs = Math.round(performance.now() - clock);
    await finish(ctx, directory, report, cause).finally(() => lease.release());
  }
  return report;
}

/** A dry run's pass fills the run's own report; a sync's keeps the plan in a report of its own. */
const planReport = (report: SyncReport, deps: SyncDeps, started: Date) =>
  deps.dryRun ? report : emptyReport(report.directory, report.run, started);

/**
 * The pass that writes nothing (`plan`, over its own report but for a dry run): a sync over the directory's
 * mass change limit changes nothing unless an administrator allowed it. A read that fails fails the sync
 * before anything is written, and the sync's report says what was read.
 */
async function checkFirst(ctx: GatewayContext, pass: Pass, plan: SyncRun): Promise<void> {
  const report = pass.report;
  const massChange = await planSync(ctx, pass, plan).catch((error: unknown) => {
    if (plan.report !== report) keepWhatWasRead(report, plan.report);
    throw error;
  });
  report.massChange = massChange;
  if (pass.deps.dryRun || !massChange.over) return;
  if (!pass.deps.allowMassChange) throw new MassChangeError(report.directory, massChange);
  massChange.allowed = true;
}

/** What the pass that writes nothing read, into the sync's report: its pages, entries and refusals. */
function keepWhatWasRead(report: SyncReport, plan: SyncReport): void {
  report.entries = plan.entries;
  report.pages = plan.pages;
  report.refused = plan.refused;
  report.names.refused = plan.names.refused;
  report.skippedDisabled = plan.skippedDisabled;
}

/** What each pass over the directory's entries needs: the connection, and what was read before the passes. */
type Pass = {
  /** The sync's own report (a dry run's is its plan's). */
  report: SyncReport;
  client: Client;
  endpoint: DirectoryEndpoint;
  deps: SyncDeps;
  renew: () => Promise<void>;
  /** The DNs under the user base, read first when some links have no entry id yet (SyncRun.dnsPresent). */
  dnsPresent: Set<string> | null;
  total: number | null;
};

/** The DNs under the user base, when links without an id need them or a progress bar its end (one paged search). */
async function readNamesFirst(
  ctx: GatewayContext,
  client: Client,
  directory: Directory,
  settings: DirectorySettings,
  deps: SyncDeps,
): Promise<Pick<Pass, 'dnsPresent' | 'total'>> {
  const idless = settings.idAttribute
    ? await ctx.models.DirectoryAccount.count({ where: { directoryId: directory.id, entryId: null } })
    : 0;
  if (idless === 0 && !deps.countFirst) return { dnsPresent: null, total: null };
  const dns = await readDns(client, directory.name, settings);
  return { dnsPresent: idless > 0 ? dns : null, total: deps.countFirst ? dns.size : null };
}

/**
 * Reads every entry under the user base, page by page, handing each page to `take` (applyPage, or
 * planPage for the pass that writes nothing). The directory prepares the next page while this one is
 * taken: one request in flight, one page in memory.
 */
async function readAll(
  pass: Pass,
  sync: SyncRun,
  phase: SyncProgress['phase'],
  take: (entries: Entry[]) => Promise<void>,
) {
  const { client, endpoint, deps } = pass;
  const { settings, report } = sync;
  const pages = client.searchPaginated(settings.userBase, {
    scope: 'sub',
    filter: settings.userFilter,
    attributes: attributesToRead(settings),
    explicitBufferAttributes: idBufferAttributes(settings),
    paged: { pageSize: PAGE_SIZE },
  });
  try {
    let next = pages.next();
    for (;;) {
      const page = await next;
      if (page.done) break;
      next = pages.next();
      next.catch(() => undefined);
      if (deps.signal?.aborted) throw stopped();
      await take(page.value.searchEntries);
      await pass.renew();
      deps.onProgress?.({ phase, entries: report.entries, pages: report.pages, total: pass.total });
    }
  } catch (error) {
    if (error instanceof AppError && !(error instanceof DirectoryUnavailableError)) throw error;
    throw unavailable(sync.directory.name, error, endpoint);
  }
  if (deps.signal?.aborted) throw stopped();
}

/**
 * The pass that writes nothing (plan-sync.ts): what a sync would do, in its run's report, and how much of
 * the directory's people it would disable or move, against the directory's limit. A read a sync would
 * refuse (nobody found, nobody readable, ids changed) fails it the same way.
 */
async function planSync(ctx: GatewayContext, pass: Pass, sync: SyncRun): Promise<MassChange> {
  const plan = newPlan(sync);
  await readAll(pass, sync, 'checking', (entries) => planPage(ctx, sync, plan, entries));
  await checkRead(ctx, sync);
  return planEnd(ctx, sync, plan);
}

function describeFailure(error: unknown): string {
  if (error instanceof DirectoryUnavailableError) return error.problem;
  if (error instanceof AppError) return error.message;
  return `unexpected error: ${(error as Error)?.message ?? String(error)}`;
}

/** Keeps the report on the registration (not a dry run's: it changed nothing) and writes it to the audit log. */
async function finish(ctx: GatewayContext, directory: Directory, report: SyncReport, cause?: string): Promise<void> {
  await inTransaction(ctx, async (ctx) => {
    if (!report.dryRun)
      await ctx.models.Directory.update(
        { lastReport: JSON.stringify(report), lastSyncAt: new Date() },
        { where: { id: directory.id }, transaction: ctx.tx },
      );
    await audit(ctx, {
      action: report.dryRun ? 'directory.dry_run' : 'directory.sync',
      target: directory.name,
      outcome: report.outcome,
      details: cause ? { ...report, cause } : report,
    });
  });
}

/**
 * How the sync learns a person's role groups (role-groups.ts). A nested group it cannot read or follow
 * gives its role to nobody through it: worth a line in the log, not a failed sync. A role group itself
 * that cannot be read fails the sync before anything is written: its role would be taken from everyone.
 */
async function groupsOfPeople(
  client: Client,
  directory: string,
  settings: DirectorySettings,
  report: SyncReport,
  logger: Logger | undefined,
): Promise<GroupsOf> {
  const { groupsOf, notes, unreadable } = await readRoleGroups(client, directory, settings);
  if (unreadable.length > 0) throw new RoleGroupUnreadableError(directory, settings, unreadable);
  for (const { group, problem } of notes) {
    logger?.warn({ directory, group }, `directory sync: group ${group} gives no role through it: ${problem}`);
    if (report.groupNotes!.length < REPORT_LIST_LIMIT) report.groupNotes!.push(`${group}: ${problem}`);
  }
  return groupsOf;
}

/** The normalized DNs of every entry the sync will read (one paged search of names only). */
async function readDns(client: Client, directory: string, settings: DirectorySettings): Promise<Set<string>> {
  const dns = new Set<string>();
  try {
    for await (const page of client.searchPaginated(settings.userBase, {
      scope: 'sub',
      filter: settings.userFilter,
      attributes: ['1.1'],
      paged: { pageSize: PAGE_SIZE },
    })) {
      for (const entry of page.searchEntries) dns.add(normalizeDn(entry.dn));
    }
  } catch (error) {
    throw unavailable(directory, error, { settings });
  }
  return dns;
}

/**
 * A complete read that disables nobody: one that found no one or could read no one while the directory had
 * people (a wrong base, filter or attribute), or whose entries mostly carry other ids (a rebuilt directory).
 */
async function checkRead(ctx: GatewayContext, sync: SyncRun): Promise<void> {
  if (sync.report.entries === 0 || sync.unread === sync.report.entries) {
    const people = await ctx.models.DirectoryAccount.count({ where: { directoryId: sync.directory.id } });
    if (people > 0 && sync.report.entries === 0) throw new EmptyDirectoryError(sync.settings, people);
    if (people > 0) throw new UnreadableDirectoryError(sync, people);
  }
  if (sync.otherIds >= 2 && sync.otherIds * 2 >= sync.readable) throw new IdsChangedError(sync);
}

/**
 * After a complete read: the people the directory marks disabled or whose account expired there, then
 * those of this directory that it did not return, are disabled in batches, each with what the directory
 * said of them; nobody when the read found no one or could read no one.
 */
async function disableAfterRead(
  ctx: GatewayContext,
  sync: SyncRun,
  deps: SyncDeps,
  renew: () => Promise<void>,
  total: number | null,
): Promise<void> {
  const { DirectoryAccount } = ctx.models;
  await checkRead(ctx, sync);
  const batch = async (links: DirectoryAccount[], reason: Ending) => {
    await disableLinks(ctx, sync, links, reason);
    await renew();
    deps.onProgress?.({ phase: 'disabling', entries: sync.report.entries, pages: sync.report.pages, total });
  };
  for (const said of DISABLED_THERE) {
    const marked = [...sync.markedDisabled].flatMap(([userId, why]) => (why === said ? [userId] : []));
    for (let i = 0; i < marked.length; i += DISABLE_BATCH) {
      const userIds = marked.slice(i, i + DISABLE_BATCH);
      const links = await DirectoryAccount.findAll({
        where: { directoryId: sync.directory.id, userId: { [Op.in]: userIds } },
      });
      await batch(links, said);
    }
  }
  let after = '';
  for (;;) {
    const links = await DirectoryAccount.findAll({
      where: { directoryId: sync.directory.id, seenRun: { [Op.ne]: sync.run }, userId: { [Op.gt]: after } },
      order: [['userId', 'ASC']],
      limit: DISABLE_BATCH,
    });
    if (links.length === 0) break;
    after = links.at(-1)!.userId;
    await batch(links, 'gone from the directory');
    // The directory gives them no name now: the one it last gave them signs in whoever carries it next.
    await DirectoryAccount.update(
      { directoryUsername: null },
      { where: { userId: { [Op.in]: links.map((l) => l.userId) }, directoryUsername: { [Op.ne]: null } } },
    );
  }
  await takeDroppedAdminRoles(ctx, sync);
}

/**
 * Last, the admin role the entries no longer give (SyncRun.adminDropped) is taken, but from the last active
 * administrator, who keeps it (keep-last-administrator.ts). Whoever this sync made an administrator counts
 * as one, so adding someone to the admin role group is fixed by one sync; whoever it disabled does not.
 */
async function takeDroppedAdminRoles(ctx: GatewayContext, sync: SyncRun): Promise<void> {
  const said = 'in no admin role group';
  for (const [userId, { unchanged }] of sync.adminDropped) {
    await inTransaction(ctx, async (ctx) => {
      const user = await ctx.models.User.findByPk(userId, { transaction: ctx.tx });
      if (!user?.roles.includes('admin')) return;
      if (await keptAsLastAdministrator(ctx, user, sync.directory, said)) {
        keepAdministrator(sync.report, user.username, said);
        return;
      }
      user.roles = user.roles.filter((role) => role !== 'admin');
      await user.save({ transaction: ctx.tx });
      if (unchanged) {
        sync.report.unchanged -= 1;
        count(sync.report, 'updated', user.username);
      }
    });
  }
}

const DISABLE_BATCH = 500;
const DISABLED_THERE: DisabledThere[] = ['disabled in the directory', 'expired in the directory'];

type Ending = Exclude<Overruled, 'in no admin role group'>;

/**
 * Disables, in one transaction, the people of these links who are still active, but for the last active
 * administrator, who is kept (keep-last-administrator.ts).
 */
async function disableLinks(ctx: GatewayContext, sync: SyncRun, links: DirectoryAccount[], reason: Ending) {
  await inTransaction(ctx, async (ctx) => {
    const users = new Map(
      (
        await ctx.models.User.findAll({
          where: { id: { [Op.in]: links.map((l) => l.userId) }, status: 'active' },
          transaction: ctx.tx,
        })
      ).map((u) => [u.id, u]),
    );
    for (const link of links) {
      const user = users.get(link.userId);
      if (!user) continue;
      if (await keptAsLastAdministrator(ctx, user, sync.directory, reason)) {
        keepAdministrator(sync.report, user.username, reason);
        continue;
      }
      await disableForDirectory(ctx, user, link, sync.directory, reason);
      count(sync.report, 'disabled', user.username);
    }
  });
}
