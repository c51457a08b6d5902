import type { SyncReport } from '../../gateway/directories/sync-report.ts';
import type { Machine } from '../shared/machine.ts';
import { describeCalibration } from '../shared/calibration.ts';
import type { Shape } from './ldif.ts';

export type Sample = { ms: number; entries: number; rss: number; heapUsed: number };
export type SyncRun = {
  label: string;
  report: SyncReport;
  baselineRss: number;
  peakRss: number;
  samples: Sample[];
  /** Heap and RSS right after a full GC at each quarter of the entries read. */
  live: { entries: number; heapUsed: number; rss: number }[];
};
export type DatabaseRun = {
  kind: 'sqlite' | 'mariadb';
  version: string;
  full: SyncRun;
  again: SyncRun;
  people: number;
  units: number;
  links: number;
};
export type Run = {
  date: Date;
  commit: string;
  seconds: number;
  machine: Machine;
  load: string;
  shape: Shape;
  ous: number;
  slapaddSeconds: number;
  slapd: string;
  databases: DatabaseRun[];
};

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rate = (r: SyncReport) => fmt(r.entries / (r.durationMs / 1000));

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** RSS when the sync had read a quarter, half, three quarters and all of the entries. */
function rssAlong(s: SyncRun, total: number): string[] {
  return [0.25, 0.5, 0.75, 1].map((share) => {
    const at = s.samples.find((x) => x.entries >= share * total);
    return at ? mib(at.rss) : '–';
  });
}

export function renderSection(r: Run): string {
  const m = r.machine;
  const target = 60_000;
  const out: string[] = [
    '## Directory sync',
    '',
    `Measured by \`npm run bench:directory\` (bench/directory/run.ts) on ${r.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`; the run took ${r.seconds.toFixed(0)} s.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ${describeCalibration(m.calibration)}; load average ${r.load} at the end. The cores are shared by slapd, the database and the sync (and whatever else ran).`,
    `- Directory: a private ${r.slapd
      .replace(/^@\(#\) \$OpenLDAP: /, '')
      .replace(/ \(.*$/, '')
      .replace(/\$$/, '')
      .trim()} on 127.0.0.1 (cli/private-slapd.ts) holding ${fmt(r.shape.people)} \`inetOrgPerson\` people in ${fmt(r.ous)} OUs (${r.shape.colleges} colleges of ${r.shape.departmentsPerCollege} departments), loaded offline with \`slapadd -q\` and started in ${r.slapaddSeconds.toFixed(1)} s; a \`staff\` group of ${fmt(Math.ceil(r.shape.people / 10))} members and an \`admins\` group of 5 map to roles. The service account has Active Directory's limit (1,000 entries a search, paged results), so the sync reads ${Math.ceil(r.shape.people / 1000)} pages.`,
    "- Sync: `syncDirectory` (what `atrium directories sync` and the schedule run) in the benchmark process, into a fresh gateway database with only the unit root: the first sync creates every person, their membership and the unit tree from the OU paths; the second finds nothing to change. RSS is the benchmark process's (the sync), sampled every 100 ms and after every page.",
    '',
  ];
  const rows = r.databases.flatMap((d) =>
    [d.full, d.again].map((s) => [
      d.version,
      s.label,
      `${fmt(s.report.entries)} entries, ${s.report.pages} pages`,
      seconds(s.report.durationMs),
      rate(s.report),
      `${fmt(s.report.added)} / ${fmt(s.report.updated)} / ${fmt(s.report.unchanged)}`,
      `${mib(s.baselineRss)} → ${mib(s.peakRss)}`,
      rssAlong(s, s.report.entries).join(', '),
      s.live.length > 0 ? s.live.map((l) => mib(l.heapUsed)).join(', ') : '–',
    ]),
  );
  out.push(
    table(
      [
        'database',
        'sync',
        'read',
        'duration',
        'entries/s',
        'added / updated / unchanged',
        'RSS before → peak',
        'RSS at 25%, 50%, 75%, 100% read',
        'JS heap after a full GC at 25%, 50%, 75%, 100%',
      ],
      rows,
    ),
    '',
  );

  const fulls = r.databases.map((d) => d.full);
  const slowest = Math.max(...fulls.map((s) => s.report.durationMs));
  // Flat means what the sync holds after a quarter of the entries is what it holds at the end: the heap
  // left after a full GC (RSS alone also follows how lazily V8 gives memory back).
  const growth = r.databases.map((d) => {
    const first = d.full.live[0]?.heapUsed ?? 0;
    const last = d.full.live.at(-1)?.heapUsed ?? first;
    return { kind: d.version, first, last };
  });
  out.push(
    table(
      ['target', 'measured', 'verdict'],
      [
        [
          `${fmt(r.shape.people)} people synced within a minute`,
          r.databases.map((d) => `${d.version}: ${seconds(d.full.report.durationMs)}`).join('; '),
          slowest <= target ? '**met**' : '**missed**',
        ],
        [
          'memory flat (what the sync holds does not grow with the entries read)',
          growth
            .map(
              (g) =>
                `${g.kind}: JS heap after a full GC ${mib(g.first)} at 25% read, ${mib(g.last)} at 100% (${g.last >= g.first ? '+' : '−'}${mib(Math.abs(g.last - g.first))})`,
            )
            .join('; ') + '; RSS in the table above',
          growth.every((g) => g.last - g.first < 16 * 2 ** 20)
            ? '**met** (under 16 MiB of growth over three quarters of the entries)'
            : '**missed**',
        ],
      ],
    ),
    '',
  );
  for (const d of r.databases) {
    out.push(
      `After the runs on ${d.version}: ${fmt(d.people)} people, ${fmt(d.units)} units and ${fmt(d.links)} directory links in the database.`,
    );
  }
  return out.join('\n');
}
