import { describeCalibration } from '../shared/calibration.ts';
import type { Machine } from '../shared/machine.ts';
import type { QueryCounts } from '../shared/node-process.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
import type { PersonShape } from './data.ts';

export type SyncSample = {
  /** From opening the socket to the node's `ready`. */
  connectMs: number;
  /** From the `sync` frame written to the whole `sync.result` read. */
  syncMs: number;
  /** The `sync.result` frame's size: what the node sent for the first sync. */
  bytes: number;
  conversations: number;
  messages: number;
  /** Every conversation came with exactly its latest page. */
  complete: boolean;
};

export type Person = {
  shape: PersonShape;
  token: string;
  samples: SyncSample[];
  /** First syncs through the SDK (connect, authenticate, sync, validate): ms each. */
  sdk: number[];
  statements: QueryCounts | undefined;
};

export type Run = {
  date: Date;
  commit: string;
  seconds: number;
  machine: Machine;
  load: string;
  mariadb: string;
  bufferPoolMiB: number;
  scale: { conversations: number; messages: number; short: number; repeat: number; page: number };
  writeSeconds: number;
  people: Person[];
  /** The node's CPU profile over five first syncs of the long histories. */
  profile: ProfileSummary;
  /** The node process's CPU time per measured first sync (both people's). */
  nodeCpuMsPerSync: number;
};

type Stats = { p50: number; p95: number; max: number };

/** Nearest-rank percentiles of a few samples. */
function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? NaN };
}

export function summarise(p: Person) {
  const last = p.samples.at(-1);
  return {
    sync: stats(p.samples.map((s) => s.syncMs)),
    connect: stats(p.samples.map((s) => s.connectMs)),
    sdk: stats(p.sdk),
    bytes: last?.bytes ?? 0,
    messages: last?.messages ?? 0,
    conversations: last?.conversations ?? 0,
    complete: p.samples.every((s) => s.complete),
    statements: p.statements
      ? Object.entries(p.statements.statements)
          .filter(([kind]) => kind.startsWith('SELECT'))
          .map(([kind, { count }]) => `${count} ${kind.replace('SELECT ', '')}`)
          .join(', ')
      : '–',
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n.toFixed(0)} ms`;

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function renderSection(r: Run): string {
  const m = r.machine;
  const out: string[] = [
    '## First sync',
    '',
    `Measured by \`npm run bench:sync\` (bench/sync/run.ts) on ${r.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`; the run took ${r.seconds.toFixed(0)} s, ${r.writeSeconds.toFixed(0)} s of it writing the histories.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ${describeCalibration(m.calibration)}; load average ${r.load} at the end. The node, MariaDB and the benchmark share the cores.`,
    `- One domain node process (the real \`startNode\`) on MariaDB ${r.mariadb} (InnoDB buffer pool ${fmt(r.bufferPoolMiB)} MiB). In one database, two people: one in ${fmt(r.scale.conversations)} conversations of ${fmt(r.scale.messages)} messages each, one in ${fmt(r.scale.conversations)} conversations of ${fmt(r.scale.short)}; four in five conversations direct, the rest groups of five; chat lines of 2–30 words over a year; read to the end but for a few unread in one conversation in four. Written with multi-row INSERTs into the node's tables, then \`ANALYZE TABLE\`.`,
    `- A first sync: a new socket (token in the subprotocol), then the \`sync\` frame the SDK sends on a new device (no \`since\`, no cursors, \`recent\`: ${r.scale.page}, \`gaps\`), timed from the frame written to the whole \`sync.result\` read, ${fmt(r.scale.repeat)} times per person after 2 warm-ups, the two people taking turns (each first every other round). *Bytes* is the \`sync.result\` frame's size. *Through the SDK*: \`AtriumClient\` connecting and syncing until every conversation is told (it validates every entry), 5 times. Statements: the node's SELECTs during one first sync, by table.`,
    '',
  ];
  const rows = r.people.map((p) => {
    const s = summarise(p);
    return [
      `${fmt(p.shape.conversations)} × ${fmt(p.shape.messagesEach)}`,
      fmt(p.shape.conversations * p.shape.messagesEach),
      `${fmt(s.messages)} in ${fmt(s.conversations)}${s.complete ? '' : ' (**not the latest page of each**)'}`,
      `${fmt(s.bytes / 1024)} KiB`,
      `${ms(s.sync.p50)} / ${ms(s.sync.p95)} / ${ms(s.sync.max)}`,
      ms(s.connect.p50),
      `${ms(s.sdk.p50)} / ${ms(s.sdk.max)}`,
      s.statements,
    ];
  });
  out.push(
    table(
      [
        'conversations × messages',
        'history',
        'entries received',
        'bytes sent',
        'first sync p50 / p95 / max',
        'socket + auth p50',
        'through the SDK p50 / max',
        'statements',
      ],
      rows,
    ),
    '',
    `The node's CPU time per first sync, over the measured rounds of both people: ${r.nodeCpuMsPerSync.toFixed(0)} ms. Profiled over five more first syncs of the long histories (${r.profile.busyMs.toFixed(0)} ms busy in ${r.profile.totalMs.toFixed(0)} ms): ${r.profile.activities
      .filter((a) => a.name !== 'idle')
      .slice(0, 6)
      .map((a) => `${a.name} ${((100 * a.ms) / r.profile.busyMs).toFixed(0)}%`)
      .join(', ')}; by package: ${r.profile.packages
      .filter((p) => p.name !== '(idle)')
      .slice(0, 6)
      .map((p) => `${p.name} ${((100 * p.ms) / r.profile.busyMs).toFixed(0)}%`)
      .join(', ')}.`,
    '',
  );
  const [long, short] = r.people.map(summarise);
  if (long && short) {
    out.push(
      table(
        ['target', 'measured', 'verdict'],
        [
          [
            `first sync of a person in ${fmt(r.scale.conversations)} conversations of ${fmt(r.scale.messages)} messages: p95 ≤ 500 ms`,
            `p95 ${ms(long.sync.p95)}, ${fmt(long.bytes / 1024)} KiB sent`,
            long.sync.p95 <= 500 ? '**met**' : '**missed**',
          ],
          [
            `the same cost whether a conversation holds ${fmt(r.scale.short)} or ${fmt(r.scale.messages)} messages`,
            `p50 ${ms(long.sync.p50)} against ${ms(short.sync.p50)} (×${(long.sync.p50 / short.sync.p50).toFixed(2)}); ${fmt(long.bytes / 1024)} KiB against ${fmt(short.bytes / 1024)} KiB`,
            long.sync.p50 <= short.sync.p50 * 1.25 ? '**met** (within 25%)' : '**missed**',
          ],
        ],
      ),
    );
  }
  return out.join('\n');
}
