import { AppError } from '../../core/errors.ts';
import { counted, type SyncReport } from './sync-report.ts';

/*
 * A narrowed user base or filter, a search the directory answers with a part of its people, or an OU tree
 * rebuilt under another base looks to a sync like most people leaving or moving at once: it would disable
 * them (ending every session they hold) or move them to other units. Like the "accidental deletion"
 * thresholds of directory sync tools, a sync that would disable, or move to another unit, more than a share
 * of the directory's active people (the registration's mass change limit, 10% unless set) and more than
 * MASS_CHANGE_FLOOR of them changes nothing and says so, until an administrator has looked (a dry run) and
 * confirms that one sync. Real departures in bulk (the end of a year) are confirmed the same way.
 */

/**
 * Up to this many people a sync may disable or move whatever the share: a few departures or moves in one
 * sync are an ordinary day, and on a small directory any of them would be over a share of it.
 */
export const MASS_CHANGE_FLOOR = 5;

/** What one sync would do to the directory's active people, as the pass that writes nothing found it. */
export type MassChange = {
  /** The directory's active people before the sync. */
  active: number;
  /** The directory's limit, in percent of `active`; null when it has none. */
  limit: number | null;
  /** Whom it would disable: gone from the directory, or marked disabled there. */
  disabling: number;
  /** Whom it would give another primary unit. */
  moving: number;
  disablingNames: string[];
  movingNames: string[];
  /** Over the limit: the sync changes nothing unless an administrator allows it. */
  over: boolean;
  /** An administrator allowed this one sync although it was over the limit. */
  allowed?: boolean;
};

/** The mass change of a plan's report (plan-sync.ts) over `active` people, against the directory's limit. */
export function massChangeOf(active: number, limit: number | null, plan: SyncReport): MassChange {
  const disabling = plan.disabled;
  const moving = plan.moved ?? 0;
  const over = (n: number) => limit !== null && n > MASS_CHANGE_FLOOR && n * 100 > limit * active;
  return {
    active,
    limit,
    disabling,
    moving,
    disablingNames: [...plan.names.disabled],
    movingNames: [...(plan.names.moved ?? [])],
    over: over(disabling) || over(moving),
  };
}

const share = (n: number, of: number) => (of > 0 ? ` (${Math.round((n * 100) / of)}%)` : '');

/** `disable 16 of the directory's 24 active people (67%) and move 5 of them to other units (21%)`. */
function whatItWouldDo(m: MassChange): string {
  const parts: string[] = [];
  if (m.disabling > 0)
    parts.push(
      `disable ${m.disabling} of the directory's ${counted(m.active, 'active person', 'active people')}${share(m.disabling, m.active)}`,
    );
  if (m.moving > 0)
    parts.push(
      `move ${m.moving} ${m.disabling > 0 ? 'of them' : `of its ${counted(m.active, 'active person', 'active people')}`} ` +
        `to other units${share(m.moving, m.active)}`,
    );
  return parts.join(' and ');
}

const limitWords = (m: MassChange) =>
  `more than ${m.limit}% of its active people and more than ${MASS_CHANGE_FLOOR} of them in one sync`;

/** What to do about a sync stopped by the limit, on the command line and in the console. */
const NEXT = {
  cli: (directory: string) =>
    `See what it would do with atrium directories sync ${directory} --dry-run; if that is right, run ` +
    `atrium directories sync ${directory} --allow-mass-change once, or change the limit ` +
    `(atrium directories update ${directory} --mass-change-limit PERCENT|off)`,
  console: () =>
    'See what it would do with "Dry run"; if that is right, tick "Disable and move them anyway" and sync ' +
    'now, or change the mass change limit below',
};

function stoppedWords(directory: string, m: MassChange, reader: keyof typeof NEXT): string {
  return (
    `this sync would ${whatItWouldDo(m)}, over the directory's mass change limit (${limitWords(m)}), as a ` +
    `mistyped user base or filter would. ${NEXT[reader](directory)}`
  );
}

/** A sync over its directory's mass change limit, not allowed by an administrator: it changed nothing. */
export class MassChangeError extends AppError {
  constructor(directory: string, m: MassChange) {
    super('directory_mass_change', 409, stoppedWords(directory, m, 'cli'));
  }
}

/** Whether a report is of a sync the limit stopped. */
export const stoppedByLimit = (report: SyncReport) =>
  report.outcome === 'failure' && !report.dryRun && Boolean(report.massChange?.over && !report.massChange.allowed);

/** A stopped sync's summary as the console says it: what to tick and press there instead of the CLI's options. */
export function stoppedInConsole(report: SyncReport): string {
  const seconds = (report.durationMs / 1000).toFixed(1);
  return (
    `Sync of ${report.directory} stopped after ${seconds} s: ${stoppedWords(report.directory, report.massChange!, 'console')}. ` +
    'Nothing was changed.'
  );
}

/** The people a stopped sync, or a dry run, names beyond its summary, as the CLI and the console show them. */
export function wouldNames(report: SyncReport): { label: string; names: string }[] {
  const lists: [string, string[], number][] = report.dryRun
    ? [
        ['Would add', report.names.added, report.added],
        ['Would disable', report.names.disabled, report.disabled],
        ['Would move to another unit', report.names.moved ?? [], report.moved ?? 0],
        ['Would enable again', report.names.reenabled, report.reenabled],
        [
          'Would sign out everywhere, their password changed there',
          report.names.signedOut ?? [],
          report.signedOut ?? 0,
        ],
        ['Renamed in the directory, keeping their username', report.names.renamed ?? [], report.renamed ?? 0],
      ]
    : stoppedByLimit(report)
      ? [
          ['Would disable', report.massChange!.disablingNames, report.massChange!.disabling],
          ['Would move to another unit', report.massChange!.movingNames, report.massChange!.moving],
        ]
      : [];
  return lists
    .filter(([, names]) => names.length > 0)
    .map(([label, names, n]) => ({ label, names: `${names.join(', ')}${n > names.length ? ', …' : ''}` }));
}

/** A dry run's report in one paragraph: what a sync now would do, and whether the limit would stop it. */
export function summarizeDryRun(report: SyncReport): string {
  const seconds = (report.durationMs / 1000).toFixed(1);
  const head = `Dry run of ${report.directory} (nothing was changed)`;
  if (report.outcome === 'failure') return `${head} failed after ${seconds} s: a sync now would fail: ${report.error}.`;
  const m = report.massChange;
  const said =
    `${head} in ${seconds} s: ${counted(report.entries, 'entry', 'entries')}; a sync now would add ${report.added}, ` +
    `update ${report.updated} (${report.moved ?? 0} of them moved to another unit), leave ${report.unchanged} unchanged, ` +
    `disable ${report.disabled}, enable ${report.reenabled} again and refuse ${report.refused}` +
    `${report.unitsCreated > 0 ? `, and create ${counted(report.unitsCreated, 'unit', 'units')}` : ''}.`;
  if (!m?.over) return said;
  return (
    `${said} It would stop there and change nothing: to ${whatItWouldDo(m)} is over the directory's mass change ` +
    `limit (${limitWords(m)}). If that is right, confirm that one sync (atrium directories sync ${report.directory} ` +
    '--allow-mass-change, or tick "Disable and move them anyway" in the console).'
  );
}
