import type { MassChange } from './mass-change.ts';

/** At most this many names per list in a report; the counts stay exact. */
export const REPORT_LIST_LIMIT = 100;

export type Refusal = { username: string | null; dn: string; reason: string };

/** What an entry says that disables its person here: marked disabled there, or its account expired there. */
export type DisabledThere = 'disabled in the directory' | 'expired in the directory';

/** What the directory said of the last active campus administrator, which the sync did not do to them. */
export type Overruled = 'gone from the directory' | DisabledThere | 'in no admin role group';

/** The last active campus administrator, kept enabled and an administrator against the directory. */
export type KeptAdministrator = { username: string; said: Overruled[] };

/** What one sync did, for the audit log, the console and the CLI. */
export type SyncReport = {
  directory: string;
  run: string;
  outcome: 'success' | 'failure';
  /** Why the sync stopped, when it failed; nobody was disabled then. */
  error: string | null;
  startedAt: string;
  durationMs: number;
  entries: number;
  pages: number;
  added: number;
  updated: number;
  unchanged: number;
  disabled: number;
  reenabled: number;
  /**
   * People the directory renamed (another username there), who keep their Atrium username: it is their
   * address in chat. Absent from reports written before it was counted.
   */
  renamed?: number;
  /**
   * People signed out everywhere because their password changed in the directory (password-changes.ts).
   * Absent from reports written before it was counted.
   */
  signedOut?: number;
  refused: number;
  /** Entries disabled (or expired) in the directory that never were in Atrium: not created. */
  skippedDisabled: number;
  unitsCreated: number;
  /**
   * Groups that gave no role through them: a role group that is not there, a nested group that cannot be
   * read or lies too deep (`cn=library,ou=groups,…: …`). Absent from reports written before they were kept.
   */
  groupNotes?: string[];
  /**
   * Entries whose disabled attribute holds a value that says neither (disabled-flag.ts), counted as not
   * disabled, and the first of them (`uid=ana,…: nsAccountLock "yes" is not TRUE or FALSE…`). Absent from
   * reports written before they were counted.
   */
  unreadFlags?: number;
  unreadFlagNotes?: string[];
  /**
   * Entries whose expiry attribute holds a value that is no time (account-expiry.ts), counted as not
   * expired, and the first of them. Absent from reports written before they were counted.
   */
  unreadExpiries?: number;
  unreadExpiryNotes?: string[];
  /**
   * The last active campus administrator, whom the directory would have disabled or taken the admin role
   * from: kept enabled and an administrator, as the console and the CLI keep them, so that someone can
   * still open the admin console (keep-last-administrator.ts). Absent from reports written before it was kept.
   */
  keptAdministrators?: KeptAdministrator[];
  /**
   * Units of the directory's active people that no chat domain serves, with how many people each
   * (unserved-units.ts): they have no chat. Absent from reports written before it was counted.
   */
  unservedUnits?: { unit: string; people: number }[];
  /** A dry run's report (plan-sync.ts): what a sync would do; nothing was written. */
  dryRun?: boolean;
  /** Active people a dry run would give another primary unit (`ana (campus/arts → campus)`). */
  moved?: number;
  /**
   * How many of the directory's active people the sync would disable and move, against its mass change
   * limit (mass-change.ts): present when the pass that writes nothing ran first.
   */
  massChange?: MassChange;
  names: {
    added: string[];
    updated: string[];
    disabled: string[];
    reenabled: string[];
    moved?: string[];
    /** `jon (jonathan there)`. */
    renamed?: string[];
    signedOut?: string[];
    refused: Refusal[];
  };
};

export function emptyReport(directory: string, run: string, startedAt: Date): SyncReport {
  return {
    directory,
    run,
    outcome: 'success',
    error: null,
    startedAt: startedAt.toISOString(),
    durationMs: 0,
    entries: 0,
    pages: 0,
    added: 0,
    updated: 0,
    unchanged: 0,
    disabled: 0,
    reenabled: 0,
    renamed: 0,
    signedOut: 0,
    refused: 0,
    skippedDisabled: 0,
    unitsCreated: 0,
    groupNotes: [],
    unreadFlags: 0,
    unreadFlagNotes: [],
    unreadExpiries: 0,
    unreadExpiryNotes: [],
    keptAdministrators: [],
    names: { added: [], updated: [], disabled: [], reenabled: [], renamed: [], signedOut: [], refused: [] },
  };
}

type Counted = 'added' | 'updated' | 'disabled' | 'reenabled' | 'renamed' | 'signedOut' | 'moved';

export function count(report: SyncReport, what: Counted, username: string): void {
  report[what] = (report[what] ?? 0) + 1;
  const names = (report.names[what] ??= []);
  if (names.length < REPORT_LIST_LIMIT) names.push(username);
}

export function refuse(report: SyncReport, refusal: Refusal): void {
  report.refused += 1;
  if (report.names.refused.length < REPORT_LIST_LIMIT) report.names.refused.push(refusal);
}

/** An entry whose disabled attribute says neither: counted, and named while the list has room. */
export function noteUnreadFlag(report: SyncReport, dn: string, problem: string): void {
  report.unreadFlags = (report.unreadFlags ?? 0) + 1;
  const notes = (report.unreadFlagNotes ??= []);
  if (notes.length < REPORT_LIST_LIMIT) notes.push(`${dn}: ${problem}`);
}

/** An entry whose expiry attribute is no time: counted, and named while the list has room. */
export function noteUnreadExpiry(report: SyncReport, dn: string, problem: string): void {
  report.unreadExpiries = (report.unreadExpiries ?? 0) + 1;
  const notes = (report.unreadExpiryNotes ??= []);
  if (notes.length < REPORT_LIST_LIMIT) notes.push(`${dn}: ${problem}`);
}

export function keepAdministrator(report: SyncReport, username: string, said: Overruled): void {
  const kept = (report.keptAdministrators ??= []);
  const known = kept.find((k) => k.username === username);
  if (!known) kept.push({ username, said: [said] });
  else if (!known.said.includes(said)) known.said.push(said);
}

const OVERRULED: Record<Overruled, string> = {
  'gone from the directory': 'no longer lists them',
  'disabled in the directory': 'marks them disabled',
  'expired in the directory': 'says their account expired',
  'in no admin role group': 'puts them in no admin role group',
};

/** What the campus administrator must fix, said after the figures. */
function keptSentences(report: SyncReport): string {
  return (report.keptAdministrators ?? [])
    .map(({ username, said }) => {
      const kept = said.every((s) => s === 'in no admin role group')
        ? 'an administrator'
        : 'enabled and an administrator';
      return (
        ` Kept ${username} ${kept} although the directory ${said.map((s) => OVERRULED[s]).join(' and ')}: ` +
        'they are the last active administrator, and without one nobody can open the admin console. Make someone ' +
        "else an administrator (atrium users add USERNAME --role admin, or the directory's admin role group), then sync again."
      );
    })
    .join('');
}

/** A count with its noun: `1 entry`, `2 entries`. */
export const counted = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const NAMED_LISTS = [
  ['Disabled', 'disabled'],
  ['Re-enabled', 'reenabled'],
  ['Renamed in the directory, keeping their username', 'renamed'],
  ['Signed out everywhere, their password changed there', 'signedOut'],
] as const;

/**
 * The people a report names beyond its summary, a line per list, as the console and the CLI show them
 * (`Disabled: viktor, wes`); `…` ends a list cut at REPORT_LIST_LIMIT.
 */
export function namedPeople(report: SyncReport): { label: string; names: string }[] {
  return NAMED_LISTS.flatMap(([label, what]) => {
    const names = report.names[what] ?? [];
    if (names.length === 0) return [];
    return [{ label, names: `${names.join(', ')}${(report[what] ?? 0) > names.length ? ', …' : ''}` }];
  });
}

/** One line per figure, for the CLI and the console. */
export function summarize(report: SyncReport): string {
  const seconds = (report.durationMs / 1000).toFixed(1);
  // A sync that failed before its first page wrote nothing at all; one that failed later, no disabling.
  const nothing = report.pages === 0 ? 'Nothing was changed.' : 'Nothing was disabled.';
  if (report.outcome === 'failure')
    return `Sync of ${report.directory} failed after ${seconds} s: ${report.error}. ${nothing}${keptSentences(report)}`;
  return (
    `Synced ${report.directory} in ${seconds} s: ${counted(report.entries, 'entry', 'entries')}; ` +
    `${report.added} added, ${report.updated} updated, ` +
    `${report.unchanged} unchanged, ${report.disabled} disabled, ${report.reenabled} re-enabled, ${report.refused} refused` +
    `${report.skippedDisabled > 0 ? `, ${report.skippedDisabled} disabled or expired in the directory and not created` : ''}` +
    `${report.renamed ? `, ${report.renamed} renamed there (they keep their username)` : ''}` +
    `${report.signedOut ? `, ${report.signedOut} signed out everywhere (password changed there)` : ''}` +
    `${report.unitsCreated > 0 ? `; ${counted(report.unitsCreated, 'unit', 'units')} created` : ''}` +
    `${report.groupNotes?.length ? `; ${groupsThatGaveNoRole(report.groupNotes.length)}` : ''}.` +
    unreadFlagsSentence(report) +
    unreadExpiriesSentence(report) +
    keptSentences(report)
  );
}

/**
 * Entries whose disabled flag could not be read: nobody is disabled by it, which the administrator must
 * hear of, with the first one (the CLI and the console show the summary).
 */
function unreadFlagsSentence(report: SyncReport): string {
  const n = report.unreadFlags ?? 0;
  const first = report.unreadFlagNotes?.[0];
  if (n === 0 || !first) return '';
  return (
    ` The disabled flag of ${counted(n, 'entry', 'entries')} could not be read, so ${n === 1 ? 'it counts' : 'they count'} ` +
    `as not disabled (${first}${n > 1 ? '; …' : ''}): set the disabled attribute to one the directory keeps as such, or none.`
  );
}

/** Entries whose expiry could not be read, as unreadFlagsSentence says those of the disabled flag. */
function unreadExpiriesSentence(report: SyncReport): string {
  const n = report.unreadExpiries ?? 0;
  const first = report.unreadExpiryNotes?.[0];
  if (n === 0 || !first) return '';
  return (
    ` The account expiry of ${counted(n, 'entry', 'entries')} could not be read, so ${n === 1 ? 'it counts' : 'they count'} ` +
    `as not expired (${first}${n > 1 ? '; …' : ''}): set the account expiry attribute to one the directory keeps as such, or none.`
  );
}

const groupsThatGaveNoRole = (n: number) =>
  `${counted(n, 'group', 'groups')} gave no role through ${n === 1 ? 'it' : 'them'}`;

/**
 * What a report says of the units no chat domain serves (unserved-units.ts), under its summary in the CLI
 * and the console alike: which units, and where to fix it. `--unit`
 * replaces the units a domain serves, so the command must give the ones it serves already too.
 */
export function unservedNote(report: SyncReport): string | null {
  const units = report.unservedUnits ?? [];
  if (units.length === 0) return null;
  const people = units.reduce((n, u) => n + u.people, 0);
  const listed = units.map((u) => `${u.unit} (${u.people})`).join(', ');
  return (
    `No chat domain serves ${counted(people, 'person', 'people')} from this directory, in ${listed}: they see ` +
    '"Chat is not set up for your account yet". Add each unit to the domain that should serve it, under Domains ' +
    'in the console, or with atrium domains update DOMAIN --unit PATH, giving every unit the domain serves ' +
    'already too (--unit replaces its list; atrium domains list shows it).'
  );
}
