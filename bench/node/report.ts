import { describeCalibration } from '../shared/calibration.ts';
import { SATURATED_STEPS_TO_STOP } from './sweep-rule.ts';
import { describeNodeAck } from './node-metrics.ts';
import { writeSection } from '../shared/benchmarks-file.ts';
import { loadNodeConfig } from '../../node/config.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
import type { Percentiles } from '../shared/percentiles.ts';
import type { ClosedLoopStep, DbProfile, DmStep, DmSweep, IndexerWait, Results, Usage } from './results.ts';

const SOCKET_BYTES_TARGET = 15_000;
const DM_RATE_TARGET = 20_000;
const DM_P99_TARGET_MS = 50;
const GROUP_P99_TARGET_MS = 300;
/** A lone message (2 pairs × 2 in flight, closed loop): send→receive p50 and p99 at most these. */
const LONE_P50_TARGET_MS = 3;
const LONE_P99_TARGET_MS = 10;

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
const ms = (n: number) =>
  Number.isFinite(n) ? (n >= 100 ? `${Math.round(n).toLocaleString('en')} ms` : `${n.toFixed(1)} ms`) : '–';
const pct = (n: number | null) => (n === null || !Number.isFinite(n) ? '–' : `${Math.round(n)}%`);
const mib = (n: number) =>
  `${(n / 2 ** 20).toLocaleString('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MiB`;
const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');

type Verdicts = {
  sockets: boolean | null;
  socketMemory: boolean | null;
  throughput: boolean | null;
  latency: boolean | null;
  group: boolean | null;
  lone: boolean | null;
  closedRate: boolean | null;
};

/** The step with the most acks and deliveries, the latency target's repeats included. */
function bestStep(sweep: DmSweep | null): DmStep | null {
  if (!sweep || sweep.steps.length === 0) return null;
  return [...sweep.steps, ...sweep.repeats].sort(
    (a, b) => Math.min(b.acksPerS, b.deliveriesPerS) - Math.min(a.acksPerS, a.deliveriesPerS),
  )[0]!;
}

function latencyStep(sweep: DmSweep | null, rate: number): DmStep | null {
  return sweep?.steps.find((s) => s.offered === rate) ?? null;
}

/** Every run at the latency target's rate: the sweep's step and its repeats. */
function latencyRuns(sweep: DmSweep | null, rate: number): DmStep[] {
  const first = latencyStep(sweep, rate);
  return first ? [first, ...(sweep?.repeats ?? [])] : [];
}

const runMeets = (s: DmStep) => s.acksPerS >= s.offered * 0.95 && s.delivery.p99 <= DM_P99_TARGET_MS;
const runsSummary = (runs: DmStep[]) =>
  runs.length === 1
    ? ''
    : `${runs.filter(runMeets).length} of ${runs.length} runs within ${DM_P99_TARGET_MS} ms; p99 per run ${runs.map((s) => ms(s.delivery.p99)).join(', ')}`;

function verdicts(r: Results, latencyRate: number): Verdicts {
  const best = bestStep(r.dm);
  const runs = latencyRuns(r.dm, latencyRate);
  return {
    sockets: r.idle ? r.idle.connected >= r.idle.target : null,
    socketMemory: r.idle ? r.idle.rssPerSocket <= SOCKET_BYTES_TARGET : null,
    throughput: best ? Math.min(best.acksPerS, best.deliveriesPerS) >= DM_RATE_TARGET * 0.99 : null,
    latency: runs.length ? runs.every(runMeets) : null,
    group: r.group ? r.group.delivered >= r.group.expected && r.group.latency.p99 <= GROUP_P99_TARGET_MS : null,
    ...closedVerdicts(r),
  };
}

/** The closed loop's shapes, each with its eager and its fixed-window step (either may be missing). */
function closedShapes(
  r: Results,
): { pairs: number; inFlight: number; eager?: ClosedLoopStep; window?: ClosedLoopStep }[] {
  const shapes = new Map<
    string,
    { pairs: number; inFlight: number; eager?: ClosedLoopStep; window?: ClosedLoopStep }
  >();
  for (const step of r.closedLoop?.steps ?? []) {
    const key = `${step.pairs}x${step.inFlight}`;
    const shape = shapes.get(key) ?? { pairs: step.pairs, inFlight: step.inFlight };
    shape[step.mode] = step;
    shapes.set(key, shape);
  }
  return [...shapes.values()];
}

const loneStep = (r: Results) => closedShapes(r).find((s) => s.pairs === 2 && s.inFlight === 2)?.eager ?? null;
const loneMeets = (s: ClosedLoopStep) =>
  s.delivery.count > 0 && s.delivery.p50 <= LONE_P50_TARGET_MS && s.delivery.p99 <= LONE_P99_TARGET_MS;

function closedVerdicts(r: Results): Pick<Verdicts, 'lone' | 'closedRate'> {
  const lone = loneStep(r);
  const pairs = closedShapes(r).filter((s) => s.eager && s.window);
  return {
    lone: lone ? loneMeets(lone) : null,
    closedRate: pairs.length ? pairs.every((s) => s.eager!.acksPerS >= s.window!.acksPerS) : null,
  };
}

/** Per shape, the eager committer's rate against the fixed window's, in words. */
function closedRates(r: Results): string {
  return closedShapes(r)
    .filter((s) => s.eager && s.window)
    .map(
      (s) =>
        `${s.pairs}×${s.inFlight}: ${fmt(s.eager!.acksPerS)} vs. ${fmt(s.window!.acksPerS)} acks/s (${pct((100 * s.eager!.acksPerS) / Math.max(1, s.window!.acksPerS))})`,
    )
    .join('; ');
}

const latencyRateOf = (r: Results) => (r.scale === 'full' ? 10_000 : 1_000);

export function renderConsoleSummary(r: Results): string {
  const v = verdicts(r, latencyRateOf(r));
  const rows: string[][] = [['target', 'measured', 'verdict']];
  if (r.idle) {
    rows.push([`${fmt(r.idle.target)} idle sockets held`, `${fmt(r.idle.connected)}`, v.sockets ? 'met' : 'missed']);
    rows.push([
      `≤ 15 KB node memory per socket`,
      `${fmt(r.idle.rssPerSocket)} B RSS, ${fmt(r.idle.heapPerSocket)} B heap (≈ ${fmt(r.idle.socketsPerGiB)}/GiB)`,
      v.socketMemory ? 'met' : 'missed',
    ]);
  }
  const best = bestStep(r.dm);
  if (best)
    rows.push([
      `≥ ${fmt(DM_RATE_TARGET)} direct msg/s`,
      `${fmt(best.acksPerS)} acks/s, ${fmt(best.deliveriesPerS)} deliveries/s (offered ${fmt(best.offered)}/s)`,
      v.throughput ? 'met' : 'missed',
    ]);
  const lat = latencyStep(r.dm, latencyRateOf(r));
  if (lat)
    rows.push([
      `p99 ≤ ${DM_P99_TARGET_MS} ms at ${fmt(lat.offered)}/s`,
      `p50 ${ms(lat.delivery.p50)}, p99 ${ms(lat.delivery.p99)}, max ${ms(lat.delivery.max)} (${fmt(lat.acksPerS)} acks/s)${latencyRuns(r.dm, lat.offered).length > 1 ? `; ${runsSummary(latencyRuns(r.dm, lat.offered))}` : ''}`,
      v.latency ? 'met' : 'missed',
    ]);
  if (r.group)
    rows.push([
      `${fmt(r.group.members)}-member group, p99 ≤ ${GROUP_P99_TARGET_MS} ms`,
      `${fmt(r.group.delivered)}/${fmt(r.group.expected)} delivered, p50 ${ms(r.group.latency.p50)}, p99 ${ms(r.group.latency.p99)}, max ${ms(r.group.latency.max)}${r.group.joining ? `; a joiner got ${joinerSummary(r.group.joining)}` : ''}`,
      v.group ? 'met' : 'missed',
    ]);
  const lone = loneStep(r);
  if (lone)
    rows.push([
      `lone message (2×2 closed loop): p50 ≤ ${LONE_P50_TARGET_MS} ms, p99 ≤ ${LONE_P99_TARGET_MS} ms`,
      `p50 ${ms(lone.delivery.p50)}, p99 ${ms(lone.delivery.p99)} (${fmt(lone.acksPerS)} acks/s)`,
      v.lone ? 'met' : 'missed',
    ]);
  if (v.closedRate !== null)
    rows.push(['closed loop: eager rate ≥ fixed window', closedRates(r), v.closedRate ? 'met' : 'missed']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    `Summary (${r.scale} run, ${(r.seconds / 60).toFixed(1)} min)`,
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

/** What a joiner was sent while the group was made, beside what one view listing every member would weigh. */
function joinerSummary(j: NonNullable<NonNullable<Results['group']>['joining']>): string {
  const each = (n: number) => n / Math.max(1, j.joiners.users);
  const views = j.joiners.byType.conversation ?? { frames: 0, bytes: 0 };
  return `${fmt(each(j.joiners.bytes))} B in ${each(j.joiners.frames).toFixed(1)} frames on average (at most ${fmt(j.joiners.maxBytes)} B), its view of the group ${fmt(each(views.bytes))} B; a view listing every member would be ${fmt(j.wholeListBytes)} B`;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function usageCells(u: Usage): string[] {
  return [
    pct(u.nodeCpu),
    pct(u.nodeLoop),
    pct(u.mariadbCpu),
    pct(u.generatorsCpu + u.orchestratorCpu),
    pct(u.othersCpu),
    pct(u.machineBusy),
    u.load,
  ];
}
const USAGE_HEADER = [
  'node CPU',
  'node loop busy',
  'MariaDB CPU',
  'bench CPU',
  "others' CPU",
  'machine busy',
  'load avg',
];

/** Which rates of the sweep were not offered, and why; empty when every rate ran. */
function notOfferedNote(sweep: DmSweep): string[] {
  const rates = sweep.notOffered;
  if (rates.length === 0) return [];
  return [
    `Not offered: ${rates.map((rate) => `${fmt(rate)}/s`).join(', ')}, since ${SATURATED_STEPS_TO_STOP} lower rates in a row fell behind (acks below 90% of offered); after a single step that falls behind, the sweep still offers the next rate, so that a slow moment of the shared machine does not decide the best rate.`,
    '',
  ];
}

function dmTable(sweep: DmSweep): string {
  const rows = sweep.steps.map((s) => [
    fmt(s.offered),
    fmt(s.sentPerS),
    fmt(s.acksPerS),
    fmt(s.deliveriesPerS),
    `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`,
    s.nodeAck ? describeNodeAck(s.nodeAck) : '–',
    `${ms(s.delivery.p50)} / ${ms(s.delivery.p95)} / ${ms(s.delivery.p99)} / ${ms(s.delivery.max)}`,
    ...usageCells(s.usage),
    [
      s.skipped ? `${fmt(s.skipped)} not sent (in-flight cap)` : '',
      Object.keys(s.errors).length ? `errors ${JSON.stringify(s.errors)}` : '',
      s.unacked ? `${fmt(s.unacked)} unacked after ${fmt(s.drainMs / 1000)} s` : '',
      s.undelivered ? `**${fmt(s.undelivered)} acked but not delivered** within 5 s after the last ack` : '',
    ]
      .filter(Boolean)
      .join('; ') || '–',
  ]);
  return table(
    [
      'offered msg/s',
      'sent/s',
      'acks/s',
      'deliveries/s',
      'ack p50 / p99',
      'in the node: arrival → ack',
      'delivery p50 / p95 / p99 / max',
      ...USAGE_HEADER,
      'notes',
    ],
    rows,
  );
}

function dbTable(db: DbProfile): string {
  const n = Math.max(1, db.messages);
  const rows = Object.entries(db.counts.statements)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([kind, s]) => [kind, fmt(s.count), (s.count / n).toFixed(3), ms(s.ms / Math.max(1, s.count))]);
  const tx = db.counts.transactions;
  rows.push([
    '(transactions)',
    fmt(tx.count),
    (tx.count / n).toFixed(3),
    `${ms(tx.ms / Math.max(1, tx.count))} (max ${ms(tx.maxMs)})`,
  ]);
  const open = (100 * tx.ms) / Math.max(1, db.counts.wallMs);
  return `${fmt(db.messages)} messages; on average ${(db.messages / Math.max(1, tx.count)).toFixed(1)} messages per flush transaction; a flush transaction was open ${open.toFixed(0)}% of the ${(db.counts.wallMs / 1000).toFixed(1)} s counted (one flush runs at a time, so near 100% would mean the committer is the bottleneck).\n\n${table(['statement', 'count', 'per message', 'mean time from send to answer'], rows)}\n\nTimes are taken on the node's event loop (Sequelize's query hooks), so they include any wait for the loop to pick up the answer.`;
}

function profileTables(p: ProfileSummary | null, file: string | null): string {
  if (!p) return '_No profile._';
  const share = (rows: { name: string; ms: number; percent: number }[]) =>
    rows.map((r) => [r.name.replace(/\|/g, '\\|'), fmt(r.ms), `${r.percent.toFixed(1)}%`]);
  return [
    `Sampled ${fmt(p.totalMs)} ms of the node's main thread, ${fmt(p.busyMs)} ms of it busy (${((100 * p.busyMs) / Math.max(1, p.totalMs)).toFixed(0)}%). ${file ? `Profile: \`${file}\` (open in Chrome DevTools → Performance).` : ''}`,
    '',
    'Where the time goes (each sample goes to the innermost frame that identifies the work):',
    '',
    table(['activity', 'ms', 'share'], share(p.activities)),
    '',
    'Self time by package or file:',
    '',
    table(['package / file', 'ms', 'share'], share(p.packages)),
    '',
    'Top functions by self time:',
    '',
    table(['function', 'ms', 'share'], share(p.functions)),
  ].join('\n');
}

function pctl(p: Percentiles): string {
  return `p50 ${ms(p.p50)}, p95 ${ms(p.p95)}, p99 ${ms(p.p99)}, max ${ms(p.max)} (${fmt(p.count)} samples)`;
}

export function renderSection(r: Results): string {
  const v = verdicts(r, latencyRateOf(r));
  const best = bestStep(r.dm);
  const lat = latencyStep(r.dm, latencyRateOf(r));
  const out: string[] = [];
  const m = r.machine;
  out.push('## Domain node', '');
  out.push(
    `Measured by \`npm run bench:node\` (bench/node/run.ts; see bench/README.md) on ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ` +
      `commit \`${r.commit}\`${r.dirty.length ? ` with uncommitted changes in ${r.dirty.map((d) => `\`${d.slice(3)}\``).join(', ')} (work in progress by others, included in what ran)` : ''}; ` +
      `the run took ${(r.seconds / 60).toFixed(1)} minutes. ${r.scale === 'smoke' ? "**Smoke scale — not the targets' scale.**" : ''}`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, open files ${m.openFilesLimit}; ${describeCalibration(m.calibration)}; MariaDB ${r.mariadb} on 127.0.0.1 with \`innodb_flush_log_at_trx_commit=1\` (every commit is fsynced)${r.bufferPool ? `, InnoDB buffer pool ${mib(r.bufferPool.used)}${r.bufferPool.used !== r.bufferPool.own ? ` for the run (the server's own setting, ${mib(r.bufferPool.own)}, is too small for the run's message indexes: past ~400,000 messages their inserts start reading from disk and the node falls to ~9,000 msg/s; restored afterwards)` : ''}` : ''}.`,
    `- **The 2 cores are shared** by the node process, MariaDB, ${r.generators.count} load-generator processes, the orchestrator (with the gateway) and whatever else ran on the machine${othersBusy(r) ? " (other work did run during this run: see *others' CPU*)" : ''}. The CPU columns show who used what, in % of one core (so 200% is the whole machine): *node CPU* is the node process, *node loop busy* its event-loop utilisation, *bench CPU* the generators and the orchestrator, *others' CPU* everything else on the machine; *machine busy* is the share of both cores in use, and the load average is the one at the end of the step.`,
    `- One node process (the real \`startNode\` composition root, in-process bus and presence) with ${Object.entries(
      r.nodeEnv,
    )
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(
        ', ',
      )}; \`FLUSH_MODE\`, \`FLUSH_WINDOW_MS\`, \`FLUSH_MAX_BATCH\`, \`FLUSH_LANES\` and \`FLUSH_CONCURRENCY\` at their defaults (eager: a send that finds nothing being written is committed at once, the window gathers only what arrives during a flush; ${FLUSH_DEFAULTS.flushWindowMs} ms, ${fmt(FLUSH_DEFAULTS.flushMaxBatch)}, ${FLUSH_DEFAULTS.flushLanes} lanes of conversations that flush side by side, ${FLUSH_DEFAULTS.flushConcurrency} flush${FLUSH_DEFAULTS.flushConcurrency === 1 ? '' : 'es'} open per lane) unless said otherwise. \`FRAMES_PER_SECOND\`, \`MESSAGES_PER_SECOND\` and \`MESSAGE_BURST\` are raised so that the per-socket limit of 50 frames/s and the per-person limit of 20 messages/s do not throttle the senders.`,
    `- Load generators: ${r.generators.count} child processes, up to ${fmt(r.generators.socketsEach)} sockets each (the machine allows 20,000 open files per process), from source addresses ${r.generators.addresses.join(', ')}, speaking the protocol's JSON frames over raw \`ws\`. Each message text carries its send time; latency is measured where it is received, on the same machine's clock.`,
    `- Access tokens: minted by the benchmark with the gateway's real active signing key (\`loadPrivateJwks\`), with the header and claims the gateway's provider puts in a node access token (RS256, \`typ: at+jwt\`, \`kid\`, \`iss\`, \`aud\` = the node URL, \`sub\`, \`client_id\` of a registered first-party app, \`scope: openid im\`, \`preferred_username\`, \`name\`, \`im_domains\`, \`sid\`, \`jti\`, \`iat\`, \`exp\` in 1 h), because signing 15,000 people in through the login form would take far longer than the benchmark. The node verifies them exactly as gateway-issued ones: same key, fetched from the gateway's JWKS endpoint, same checks. Sockets authenticate with the \`atrium.token.<jwt>\` subprotocol.`,
    '',
  );

  out.push('### Targets', '');
  const rows: string[][] = [];
  if (r.idle)
    rows.push([
      `${fmt(r.idle.target)} authenticated idle sockets at ≤ 15 KB of node memory each`,
      `${fmt(r.idle.connected)} held; ${fmt(r.idle.rssPerSocket)} B RSS and ${fmt(r.idle.heapPerSocket)} B JS heap per socket; ≈ ${fmt(r.idle.socketsPerGiB)} sockets per GiB of RSS`,
      `${verdict(Boolean(v.sockets && v.socketMemory))}`,
    ]);
  if (best)
    rows.push([
      `≥ ${fmt(DM_RATE_TARGET)} direct messages/s, ack after commit`,
      `best: ${fmt(best.acksPerS)} acks/s and ${fmt(best.deliveriesPerS)} deliveries/s at ${fmt(best.offered)}/s offered`,
      verdict(v.throughput),
    ]);
  if (lat) {
    const runs = latencyRuns(r.dm, lat.offered);
    rows.push([
      `p99 send→receive ≤ ${DM_P99_TARGET_MS} ms at ${fmt(lat.offered)}/s${runs.length > 1 ? ` (${runs.length} runs of ${lat.seconds} s)` : ''}`,
      runs
        .map(
          (s, i) =>
            `${runs.length > 1 ? `run ${i + 1}: ` : ''}${fmt(s.acksPerS)} acks/s; delivery ${pctl(s.delivery)}; in the node, arrival → ack: ${describeNodeAck(s.nodeAck)}`,
        )
        .join('<br>'),
      verdict(v.latency),
    ]);
  }
  if (r.group)
    rows.push([
      `group of ${fmt(r.group.members)} online members: every member within p99 ≤ ${GROUP_P99_TARGET_MS} ms; joining or creating it does not send every joiner the member list (pages)`,
      `${fmt(r.group.delivered)} of ${fmt(r.group.expected)} deliveries; ${pctl(r.group.latency)}${r.group.joining ? `<br>while it was made, a joiner got ${joinerSummary(r.group.joining)}` : ''}`,
      verdict(v.group),
    ]);
  rows.push(...closedTargetRows(r, v));
  out.push(table(['target (one node process on MariaDB)', 'measured', 'verdict'], rows), '');
  const ceiling = ceilingSummary(r);
  if (ceiling) out.push(ceiling, '');
  if (r.errors.length)
    out.push(`**Phases that failed:** ${r.errors.map((e) => `\`${e.replace(/`/g, "'")}\``).join('; ')}`, '');

  if (r.idle) {
    const i = r.idle;
    out.push('### 1. Idle sockets', '');
    out.push(
      `${fmt(i.connected)} sockets authenticated and held (${fmt(i.target)} attempted${Object.keys(i.failures).length ? `, failures: ${JSON.stringify(i.failures)}` : ''}); connecting them took ${i.connectSeconds.toFixed(1)} s ` +
        `(${fmt(i.connected / Math.max(0.001, i.connectSeconds))} authenticated connects/s, ${fmt(i.connected / Math.max(0.001, i.connectSeconds) / r.generators.count)} per generator at ${r.scale === 'full' ? 100 : 50} concurrent handshakes each). Load average then: ${i.load}.`,
      '',
      table(
        ['node process (after a full GC)', 'before', 'after', 'per socket'],
        [
          ['RSS', mib(i.before.rss), mib(i.after.rss), `${fmt(i.rssPerSocket)} B`],
          ['JS heap used', mib(i.before.heapUsed), mib(i.after.heapUsed), `${fmt(i.heapPerSocket)} B`],
          [
            'JS heap reserved (heapTotal)',
            mib(i.before.heapTotal),
            mib(i.after.heapTotal),
            `${fmt((i.after.heapTotal - i.before.heapTotal) / Math.max(1, i.connected))} B`,
          ],
          ['external (Buffers)', mib(i.before.external), mib(i.after.external), `${fmt(i.externalPerSocket)} B`],
          [
            '/metrics `process_resident_memory_bytes`',
            mib(i.metricsBefore.rss),
            mib(i.metricsAfter.rss),
            `${fmt((i.metricsAfter.rss - i.metricsBefore.rss) / Math.max(1, i.connected))} B`,
          ],
          [
            '/metrics `nodejs_heap_size_used_bytes`',
            mib(i.metricsBefore.heapUsed),
            mib(i.metricsAfter.heapUsed),
            `${fmt((i.metricsAfter.heapUsed - i.metricsBefore.heapUsed) / Math.max(1, i.connected))} B`,
          ],
        ],
      ),
      '',
      `What a socket is made of on the JS heap — heap snapshots (after a full GC) before and after ${fmt(i.heapSample.sockets)} more sockets on a separate, warmed-up node process, shallow sizes per kind of object divided by the sockets added (${fmt(i.heapSample.total)} B per socket in all; the largest kinds; "(code)" is code V8 compiled meanwhile, not a per-socket cost):`,
      '',
      table(
        ['kind of heap object', 'bytes per socket', 'objects per socket'],
        i.heapSample.groups
          .filter((g) => g.bytesPerSocket >= 16)
          .map((g) => [g.name.replace(/\|/g, '\\|'), fmt(g.bytesPerSocket), g.countPerSocket.toFixed(2)]),
      ),
      '',
      `The strings each socket adds, by their first characters:`,
      '',
      table(
        ['string', 'bytes per socket', 'strings per socket'],
        i.heapSample.strings
          .filter((g) => g.bytesPerSocket >= 16)
          .map((g) => [
            `\`${g.name.replace(/\|/g, '\\|').replace(/`/g, "'")}\``,
            fmt(g.bytesPerSocket),
            g.countPerSocket.toFixed(2),
          ]),
      ),
      '',
      `Projected: ${fmt(i.socketsPerGiB)} idle sockets per GiB of node RSS, so 100,000 sockets would need about ${mib(100_000 * i.rssPerSocket)} of RSS. Kernel socket buffers are not part of RSS and come on top (a few KB per idle TCP socket on each end).`,
      '',
    );
  }

  if (r.dm) {
    const d = r.dm;
    out.push('### 2. Direct messages', '');
    out.push(
      `${fmt(d.pairs)} sender/receiver pairs, each a direct conversation, spread over the generators (${fmt(d.sockets)} sockets open on the node, the rest idle). ` +
        `Each pair's conversation was opened the way a client does it — a first message sent \`to\` the peer — ${fmt(d.setup.opened)} in ${d.setup.seconds.toFixed(1)} s. ` +
        `Then senders send open-loop at the offered rate (round robin over the pairs, without waiting for acks, at most one second's worth in flight per generator), for each step's length; the first second of each step is left out of the rates and latencies. ` +
        `"acks/s" counts acks received by senders (each sent only after the message's flush transaction committed), "deliveries/s" messages received by the receivers. ` +
        `"In the node" is the node's own part, from its /metrics histogram \`atrium_im_send_ack_seconds\` (a send frame's arrival to its ack, over the whole step): the share within 50 ms, and the histogram bucket that holds the 99th percentile. It starts when the node reads the frame: time a frame waits in the kernel before the node gets to it (a busy or descheduled event loop), and the generators' own time to send and to read answers, are outside it.`,
      '',
      dmTable(d),
      '',
      ...notOfferedNote(d),
    );
    if (d.profiled) {
      out.push(`#### Where the time goes at ${fmt(d.profiled.offered)}/s offered (profiled run)`, '');
      out.push(
        `A separate ${d.profiled.seconds}-s run at ${fmt(d.profiled.offered)}/s offered — the first rate that saturated the node — with the node's CPU profiler on (sampling every 0.5 ms) and its database statements counted (Sequelize query hooks) — the profiler slows the node a little, so its rates are not in the table above: ${fmt(d.profiled.acksPerS)} acks/s, delivery p99 ${ms(d.profiled.delivery.p99)}, node CPU ${pct(d.profiled.usage.nodeCpu)}, MariaDB ${pct(d.profiled.usage.mariadbCpu)}.`,
        '',
        'Database round trips:',
        '',
        dbTable(d.profiled.db),
        '',
        profileTables(d.profiled.profile, d.profiled.profileFile),
        '',
      );
    }
  }

  if (r.group) {
    const g = r.group;
    out.push('### 3. A group of online members', '');
    out.push(
      `${fmt(g.members)} members, ${fmt(g.online)} of them online (one socket each, spread over the generators). ${g.createNote.charAt(0).toUpperCase()}${g.createNote.slice(1)}. ` +
        `${g.messages} messages were sent at ${g.ratePerS}/s by different members; every other member's socket should receive each (${fmt(g.expected)} deliveries).`,
      '',
      table(
        [
          'deliveries',
          'per-delivery latency',
          'until the last member had it (per message)',
          'sender ack',
          ...USAGE_HEADER,
        ],
        [
          [
            `${fmt(g.delivered)} / ${fmt(g.expected)}`,
            pctl(g.latency),
            `p50 ${ms(g.lastMember.p50)}, max ${ms(g.lastMember.max)}`,
            `p50 ${ms(g.ack.p50)}, p99 ${ms(g.ack.p99)}`,
            ...usageCells(g.usage),
          ],
        ],
      ),
      '',
    );
    if (Object.keys(g.errors).length) out.push(`Errors: ${JSON.stringify(g.errors)}`, '');
    if (g.indexerWait) out.push(indexerWaitNote('group', g.indexerWait), '');
    if (g.joining) {
      const j = g.joining;
      const row = (who: string, t: typeof j.joiners) => {
        const each = (n: number) => n / Math.max(1, t.users);
        const of = (type: string) => t.byType[type] ?? { frames: 0, bytes: 0 };
        return [
          who,
          fmt(t.users),
          `${fmt(each(t.bytes))} B, ${each(t.frames).toFixed(1)} frames`,
          `${fmt(t.maxBytes)} B, ${fmt(t.maxFrames)} frames`,
          `${fmt(each(of('conversation').bytes))} B in ${each(of('conversation').frames).toFixed(1)}`,
          `${fmt(each(of('message').bytes))} B in ${each(of('message').frames).toFixed(1)}`,
        ];
      };
      out.push(
        '#### Joining: what the sockets were sent while the group was made',
        '',
        `Every frame the members' sockets received from the \`group.create\` until one more message, sent after the last answer, had reached every member (that message included). A conversation view of a group above \`VIEW_MEMBERS_MAX\` (100) lists only its viewer and counts the rest (\`memberCount\`); one listing all ${fmt(g.members)} members would be ${fmt(j.wholeListBytes)} B per joiner, ${fmt((j.wholeListBytes * j.joiners.users) / 2 ** 20)} MiB for all of them. The join entries (\`message\`, a \`system\` entry per invite naming the people it adds) reach every member already in the group: an early joiner hears of everyone after them, one change at a time.`,
        '',
        table(
          [
            'sockets',
            'people',
            'per socket (mean)',
            'most one socket got',
            'views (`conversation`) per socket',
            '`message` frames per socket (the join entries, and the one message that marks the end)',
          ],
          [row('joiners', j.joiners), row('owner (the answers)', j.owner)],
        ),
        '',
      );
    }
    if (g.memberPages) {
      const p = g.memberPages;
      out.push(
        `One member then read the whole member list in pages of 1,000 (\`members\`): ${p.pages} pages, ${fmt(p.members)} members, ${fmt(p.bytes)} B in ${ms(p.ms)}.`,
        '',
      );
    }
    if (g.withReceipts) {
      const w = g.withReceipts;
      const receipts = w.receipts.answered + w.receipts.refused;
      out.push(
        '#### With receipts: every member marks each message as it arrives',
        '',
        `Another ${w.db.messages} messages at ${g.ratePerS}/s, and every member's socket marks each message \`delivered\` as it arrives: the worst case, as if every member had the group open and read each message at once (the portal marks messages delivered as they arrive in direct conversations and groups of up to 100 members; in bigger groups it tells only what is read). ` +
          `Each receipt goes to the reader's own devices and to the senders of the messages it covers (docs/protocol.md, "Receipts"), and receipts told to one person at the same moment share a frame (\`receipts\`), so at most one pushed frame per receipt is expected once members keep up (a member's first receipt covers every message since their last one, and reaches all their senders); telling every member of every receipt would be ${fmt((g.online - 1) * (g.online - 1))} frames per message here. ` +
          `Receipts are written together, as messages are (node/receipts/receipt-committer.ts).`,
        '',
        table(
          [
            'deliveries',
            'per-delivery latency',
            'until the last member had it',
            'receipts answered / refused',
            'receipt frames pushed',
            'receipt statements',
            ...USAGE_HEADER,
          ],
          [
            [
              `${fmt(w.delivered)} / ${fmt(w.expected)}`,
              pctl(w.latency),
              `p50 ${ms(w.lastMember.p50)}, max ${ms(w.lastMember.max)}`,
              `${fmt(w.receipts.answered)} / ${fmt(w.receipts.refused)}`,
              `${fmt(w.receipts.pushed)} (${(w.receipts.pushed / Math.max(1, receipts)).toFixed(2)} per receipt)`,
              `${fmt(statementsOn(w.db, 'members'))} on \`members\` (${(statementsOn(w.db, 'members') / Math.max(1, receipts)).toFixed(3)} per receipt)`,
              ...usageCells(w.usage),
            ],
          ],
        ),
        '',
      );
    }
    if (g.profiled) {
      out.push(
        `#### Profiled group round`,
        '',
        `Another ${g.profiled.db.messages} messages with the profiler on: ${fmt(g.profiled.delivered)}/${fmt(g.profiled.expected)} deliveries, ${pctl(g.profiled.latency)}; the last member had each message after p50 ${ms(g.profiled.lastMember.p50)}, max ${ms(g.profiled.lastMember.max)}.`,
        '',
        dbTable(g.profiled.db),
        '',
        profileTables(g.profiled.profile, g.profiled.profileFile),
        '',
      );
    }
  }

  if (r.shutdown) {
    out.push(
      '### Graceful shutdown',
      '',
      `\`close()\` of the node with ${fmt(r.shutdown.sockets)} sockets open (every socket told "going away" and closed, queued writes flushed) took ${r.shutdown.seconds.toFixed(1)} s.`,
      '',
    );
  }

  if (r.alt) {
    out.push(`### Alternative: FLUSH_WINDOW_MS=${r.alt.flushWindowMs}`, '');
    out.push(
      `The node restarted with \`FLUSH_WINDOW_MS=${r.alt.flushWindowMs}\` (a send opens a flush at once whenever fewer than \`FLUSH_CONCURRENCY\` are open in its lane; batches still form while every slot is busy) and only the pairs' ${fmt(r.alt.sockets)} sockets reconnected.`,
      '',
      dmTable(r.alt),
      '',
    );
    const alt = r.alt;
    const compared = alt.steps.flatMap((a) => {
      const m = r.dm?.steps.find((x) => x.offered === a.offered);
      return m ? [{ a, m }] : [];
    });
    if (compared.length) {
      out.push(
        `Against the default 2 ms at the same offered rates: ${compared
          .map(
            ({ a, m }) =>
              `at ${fmt(a.offered)}/s, ${fmt(a.acksPerS)} vs. ${fmt(m.acksPerS)} acks/s and delivery p99 ${ms(a.delivery.p99)} vs. ${ms(m.delivery.p99)}`,
          )
          .join('; ')} (${alt.flushWindowMs} ms first). ` +
          (compared.some(({ a, m }) => Math.abs(a.usage.othersCpu - m.usage.othersCpu) > 20)
            ? `Other people's CPU use differed between the runs (${compared.map(({ a, m }) => `${pct(a.usage.othersCpu)} vs. ${pct(m.usage.othersCpu)}`).join(', ')}), which can move these figures more than the window does.`
            : `Other people's CPU use was similar in both (${compared.map(({ a, m }) => `${pct(a.usage.othersCpu)} vs. ${pct(m.usage.othersCpu)}`).join(', ')}).`),
        '',
      );
    }
  }

  if (r.closedLoop) out.push(...closedLoopSection(r));

  if (r.ceiling.memory || r.ceiling.durable || r.ceiling.indexed) {
    out.push("### 6. The machine's ceiling: a stand-in server", '');
    out.push(
      `The node stopped, and the same generators and pairs ran the same steps against a stand-in server (bench/node/relay-process.ts) in a process of its own, which does only what any chat server must do for a direct message: it reads the \`send\` frame, parses it, writes the \`ack\` to the sender and the \`message\` frame to the receiver, on the same sockets. It checks no token (it reads the name in one without verifying it), no membership, no rate limit; it keeps no receipts, no cursors, no outbox. ` +
        `*Memory*: nothing stored, the ack and the push written as soon as the frame is read. *Durable*: the frames are group-committed as the node does (2-ms window, up to 2,000 rows and 3 transactions at once) into a table with the keys and indexes of the node's \`messages\`, with mysql2 directly, and acked and pushed after the commit. *Durable and indexed*: as durable, and then each message's text goes into a FULLTEXT index as the node's search indexer puts it there (the node's own tokens and table; batches of up to 2,000, started when 20,000 wait or flushes pause for 250 ms), what waits kept in memory. Target 1 compares the node with the durable stand-in; the node also keeps target 3's search index, so the indexed stand-in shows how much of the gap that index is. ` +
        `A target the stand-in misses cannot be shown by any server on this machine, since the generators and MariaDB take their share of the same two cores. The *node* columns here are the stand-in's process; *in the node* is its own arrival → ack.`,
      '',
    );
    for (const [mode, sweep] of [
      ['Memory', r.ceiling.memory],
      ['Durable (MariaDB)', r.ceiling.durable],
      ['Durable and indexed (MariaDB, FULLTEXT)', r.ceiling.indexed],
    ] as const) {
      if (!sweep) continue;
      out.push(`**${mode}** (${fmt(sweep.sockets)} sockets):`, '', dmTable(sweep), '', ...notOfferedNote(sweep));
      if (sweep.repeats.length)
        out.push(
          `The latency target's rate again: ${sweep.repeats.map((x) => `${fmt(x.acksPerS)} acks/s, delivery ${pctl(x.delivery)}`).join('; ')}.`,
          '',
        );
    }
  }

  out.push('### Node log and sockets', '');
  out.push(
    r.nodeLog.errors + r.nodeLog.warnings === 0
      ? 'The node logged no warnings or errors.'
      : `The node logged ${fmt(r.nodeLog.errors)} errors and ${fmt(r.nodeLog.warnings)} warnings (the logs are kept in \`bench/results/\`):\n\n${table(
          ['message', 'count'],
          r.nodeLog.top.map((t) => [`\`${t.message.replace(/\|/g, '\\|').replace(/`/g, "'")}\``, fmt(t.count)]),
        )}`,
    '',
    Object.keys(r.dropped).length === 0
      ? 'No socket was closed by the node during the run, apart from the restarts.'
      : `Sockets closed by the node, by close code: ${Object.entries(r.dropped)
          .map(([code, n]) => `${code}: ${fmt(n)}`)
          .join(', ')} (1001 is the graceful shutdown before the restart).`,
    '',
  );
  out.push(FINDINGS_HEADER, '', ...findings(r, v), '');
  return out.join('\n');
}

const FINDINGS_HEADER = '### Findings';

/** What the figures say, in words; the numbers come from this run, the code references were checked by reading it. */
function findings(r: Results, v: Verdicts): string[] {
  const lines: string[] = [];
  const best = bestStep(r.dm);
  const lat = latencyStep(r.dm, latencyRateOf(r));
  const prof = r.dm?.profiled ?? null;

  if (best && v.throughput === false) {
    const u = best.usage;
    lines.push(
      `- **Direct-message throughput misses ${fmt(DM_RATE_TARGET)}/s by a wide margin:** at best ${fmt(best.acksPerS)} acks/s (${fmt(best.offered)}/s offered). ` +
        `In that step the node used ${pct(u.nodeCpu)} of a core (event loop busy ${pct(u.nodeLoop)}), MariaDB ${pct(u.mariadbCpu)}, the generators ${pct(u.generatorsCpu)}; the whole machine was ${pct(u.machineBusy)} busy.`,
    );
  }
  if (prof) {
    const n = Math.max(1, prof.db.messages);
    const stat = (prefix: string) =>
      Object.entries(prof.db.counts.statements)
        .filter(([k]) => k.startsWith(prefix))
        .reduce((acc, [, x]) => ({ count: acc.count + x.count, ms: acc.ms + x.ms }), { count: 0, ms: 0 });
    const tx = prof.db.counts.transactions;
    const txOpen = (100 * tx.ms) / Math.max(1, prof.db.counts.wallMs);
    const best2 = best ?? prof;
    const perMessage = (cpu: number | null) =>
      cpu === null ? null : ((cpu / 100) * 1e6) / Math.max(1, best2.acksPerS);
    const nodeUs = perMessage(best2.usage.nodeCpu)!;
    const dbUs = perMessage(best2.usage.mariadbCpu);
    const benchUs = perMessage(best2.usage.generatorsCpu + best2.usage.orchestratorCpu)!;
    const busy = (prof.profile?.activities ?? []).filter((x) => x.name !== 'idle').slice(0, 5);
    lines.push(
      `- **Where a message's cost goes now.** At the best step (${fmt(best2.acksPerS)} messages/s) the node spent ≈ ${fmt(nodeUs)} µs of CPU per message, MariaDB ≈ ${dbUs === null ? '–' : fmt(dbUs)} µs, the load generators ≈ ${fmt(benchUs)} µs (each message is three frames for them: send, ack, delivery). ` +
        `At ${fmt(DM_RATE_TARGET)}/s that is ≈ ${((nodeUs * DM_RATE_TARGET) / 1e6).toFixed(1)} cores for the node, ${dbUs === null ? '–' : ((dbUs * DM_RATE_TARGET) / 1e6).toFixed(1)} for MariaDB and ${((benchUs * DM_RATE_TARGET) / 1e6).toFixed(1)} for the generators: **the target cannot be shown on this 2-core machine**, whatever the node does, and one node process (one event loop, one core at most) would need its per-message cost cut to ≤ ${fmt(1e6 / DM_RATE_TARGET)} µs. ` +
        `In the profiled run at ${fmt(prof.offered)}/s the node's main thread was ${busy.map((x) => `${x.percent.toFixed(0)}% ${x.name}`).join(', ')}, and ${((100 * (prof.profile ? prof.profile.totalMs - prof.profile.busyMs : 0)) / Math.max(1, prof.profile?.totalMs ?? 1)).toFixed(0)}% idle; a flush transaction was open ${txOpen.toFixed(0)}% of the time, ${fmt(n / Math.max(1, tx.count))} messages per flush, ${ms(tx.ms / Math.max(1, tx.count))} per flush.`,
    );
    const writev = prof.profile?.functions.find((f) => f.name === 'writev');
    if (writev)
      lines.push(
        `  - Socket writes: every message costs the node two write system calls: the sender's ack through \`ws\` (\`writev\`, header and payload) and the receiver's frame, built once per message and written as one buffer (\`writeBuffer\`, which also carries the statements to MariaDB); \`writev\` alone was ${writev.percent.toFixed(0)}% of the samples, ≈ ${fmt((1000 * writev.ms) / Math.max(1, prof.db.messages))} µs per ack on this VM. That part does not shrink with better code in one process; it divides over the domain's N processes (the design's scaling path) and is cheaper on dedicated hardware.`,
      );
    lines.push(
      `  - The flush (\`writeBatch\` in node/messages/group-commit.ts) writes hand-built statements with literal values (core/sql-literal.ts): one multi-row INSERT and one UPDATE joined to the (id, seq) list per flush, plain records instead of model instances. Conversations are spread over \`FLUSH_LANES\` lanes whose flushes share no row locks and so are written side by side; within a lane up to \`FLUSH_CONCURRENCY\` flushes are open at once, the next one starting once the previous one holds its row locks. What is left of the database layer in the node is ${sharesOf(prof.profile, ['sequelize', 'mysql2', 'sql-escaper', 'moment'])} of the samples (sequelize, mysql2, sql-escaper, moment), plus the \`writeBuffer\` system calls that carry statements to MariaDB.`,
    );
    const cacheSelects = stat('SELECT members').count + stat('SELECT conversations').count - tx.count;
    if (cacheSelects / n > 0.01)
      lines.push(
        `  - Member-cache reads: besides the flush's own statements, the run issued ${fmt(cacheSelects)} SELECTs on \`members\`/\`conversations\` (${(cacheSelects / n).toFixed(3)} per message): entries past their 60-s TTL are read again in the background, all that expired together in one query (node/conversations/member-cache.ts).`,
      );
  }
  if (lat && v.latency === false) {
    const runs = latencyRuns(r.dm, lat.offered);
    const kept = runs.every((x) => x.acksPerS >= 0.9 * x.offered);
    lines.push(
      `- **p99 latency at ${fmt(lat.offered)}/s misses ${DM_P99_TARGET_MS} ms**${runs.length > 1 ? ` in ${runs.filter((x) => !runMeets(x)).length} of ${runs.length} runs (p99 ${runs.map((x) => ms(x.delivery.p99)).join(', ')}; p50 ${runs.map((x) => ms(x.delivery.p50)).join(', ')})` : ` (${ms(lat.delivery.p99)}, with ${fmt(lat.acksPerS)} acks/s achieved)`}: ` +
        (kept
          ? `the node kept up with the rate in every run, so this is latency under load, not queueing past capacity: at this rate the machine is ${runs.map((x) => pct(x.usage.machineBusy)).join(', ')} busy (node ${runs.map((x) => pct(x.usage.nodeCpu)).join(', ')} of a core, MariaDB ${runs.map((x) => pct(x.usage.mariadbCpu)).join(', ')}, generators ${runs.map((x) => pct(x.usage.generatorsCpu)).join(', ')}), so any pause — a full garbage collection in the node (${runs.map((x) => x.usage.gcMajor).join(', ')} per run), the event loop's longest turn (${runs.map((x) => ms(x.usage.loopDelayMaxMs)).join(', ')}), a process waiting for a core — queues messages that then drain slowly with little spare capacity.`
          : `that rate is past the node's capacity in at least one run, so messages queue in the node and latency is queueing time (bounded here only by the generators' in-flight cap of one second's worth).`),
    );
  }
  const sustained = r.dm?.steps.filter((s) => s.acksPerS >= 0.9 * s.offered) ?? [];
  for (const s of sustained) {
    lines.push(
      `- At ${s.label.includes('after') ? `${fmt(s.offered)}/s offered ${s.label.slice(s.label.indexOf('after'))}` : `${fmt(s.offered)}/s offered`} (sustained), delivery latency was p50 ${ms(s.delivery.p50)}, p99 ${ms(s.delivery.p99)}, max ${ms(s.delivery.max)}${s.delivery.p99 <= DM_P99_TARGET_MS ? ` (within ${DM_P99_TARGET_MS} ms)` : ''}; other people's processes used ${pct(s.usage.othersCpu)} of a core meanwhile.`,
    );
  }
  if (r.group) {
    const g = r.group;
    // The write system calls: one per socket (`writeBuffer` for a frame built once, `writev` for ws.send's two buffers).
    const writeCalls = g.profiled?.profile?.functions.filter((f) => f.name === 'writev' || f.name === 'writeBuffer');
    const writev = writeCalls?.length ? { ms: writeCalls.reduce((sum, f) => sum + f.ms, 0) } : undefined;
    const perWrite = writev && g.profiled ? (1000 * writev.ms) / Math.max(1, g.profiled.delivered) : null;
    lines.push(
      `- **The ${fmt(g.members)}-member group ${v.group ? 'meets' : 'misses'} p99 ≤ ${GROUP_P99_TARGET_MS} ms:** ${fmt(g.delivered)}/${fmt(g.expected)} delivered, per-delivery p50 ${ms(g.latency.p50)}, p99 ${ms(g.latency.p99)}; the last member had a message after p50 ${ms(g.lastMember.p50)}, at worst ${ms(g.lastMember.max)}${v.group ? ' — with the node doing nothing else meanwhile' : ''}. ` +
        `Fan-out writes one WebSocket frame per member socket, 500 sockets per turn of the event loop (\`registry.deliver\` in node/ws/registry.ts, its sockets looked up once per group and membership; the JSON and the WebSocket frame are built once per message, node/ws/text-frame.ts, and each socket costs one \`write\` system call)` +
        (perWrite !== null
          ? `: the profiled round spent ${fmt(writev!.ms)} ms in those system calls (\`writeBuffer\`, \`writev\`) for ${fmt(g.profiled!.delivered)} deliveries, ≈ ${perWrite.toFixed(0)} µs per socket, so one message to ${fmt(g.online - 1)} sockets keeps the event loop busy for ≈ ${fmt((perWrite * (g.online - 1)) / 1000)} ms — members late in the loop wait that long, and everything else (acks, other sends) waits behind it (the node's event-loop delay p99 was ${ms(g.usage.loopDelayP99Ms)}). `
          : '. ') +
        `The system call is the cost, not the JSON (serialised once per message). On this VM a loopback write is expensive${g.usage.othersCpu > 20 ? ` and the machine was shared (others used ${pct(g.usage.othersCpu)} of a core)` : ''}; on dedicated hardware it is typically cheaper. Within the design, the lever is the domain's N processes: each process writes only to its own sockets, so ${fmt(g.members)} members over k processes cost 1/k of this per process. Slicing does not lower the last member's latency; it keeps one big group from stalling every other socket for its whole duration.`,
    );
  }

  if (r.group?.withReceipts) {
    const g = r.group;
    const w = g.withReceipts!;
    const offered = (g.online - 1) * g.ratePerS;
    const answered = w.receipts.answered + w.receipts.refused;
    lines.push(
      `- **Receipts in the ${fmt(g.members)}-member group:** every member marking each message as it arrives is ${fmt(offered)} receipts/s at ${g.ratePerS} messages/s. ` +
        `${fmt(answered)} of ${fmt(w.expected)} were answered within the round (10 s after the last delivery), with ${fmt(statementsOn(w.db, 'members'))} statements on \`members\` in all; the node used ${pct(w.usage.nodeCpu)} of a core and MariaDB ${pct(w.usage.mariadbCpu)}` +
        (w.usage.nodeCpu >= 90
          ? `, so the node, not the database, was the limit, and messages waited behind receipts (delivery p99 ${ms(w.latency.p99)}). A receipt costs the node about what a message does — a frame in, an answer and an event out — so a group where everyone reads everything at once costs what a message rate of ${fmt(offered)}/s would. The portal therefore sends \`delivered\` only in direct conversations and groups of up to 100 members.`
          : ` (delivery p99 ${ms(w.latency.p99)}).`),
    );
  }
  if (r.idle) {
    const i = r.idle;
    const header = i.heapSample.strings.find((g) => g.name.includes('atrium.v1'));
    const sum = (test: (name: string) => boolean) =>
      i.heapSample.groups.filter((g) => test(g.name)).reduce((a, g) => a + g.bytesPerSocket, 0);
    const closures = sum((n) => n.startsWith('closure ') || n === 'system / Context');
    const timers = sum((n) => n === 'Timeout' || n === 'TimersList');
    lines.push(
      `- **Memory per idle socket: ${fmt(i.rssPerSocket)} B of RSS (${v.socketMemory ? 'within' : 'over'} the 15 KB target), of which ${fmt(i.heapPerSocket)} B JS heap.** The rest is native: the TCP handle and libuv state, malloc overhead and the V8 heap's reserve (heapTotal grows with heapUsed). What the JS heap holds per socket, from the snapshots above:`,
    );
    if (!header || header.bytesPerSocket < 200) {
      lines.push(
        `  - Not there any more: the whole \`Sec-WebSocket-Protocol\` request header (\`atrium.v1, atrium.token.<JWT>\`, ~1,000 B) used to stay alive per socket through a closure in \`attach()\` (node/ws/socket-server.ts); fixed while this benchmark was written. Should it come back, the strings table above shows it.`,
      );
    }
    if (header && header.bytesPerSocket > 200) {
      lines.push(
        `  - ${fmt(header.bytesPerSocket)} B: the whole \`Sec-WebSocket-Protocol\` request header (\`atrium.v1, atrium.token.<JWT>\`) stays alive for the socket's lifetime. In \`attach()\` of \`node/ws/socket-server.ts\`, \`offered\` is a slice of that header and is captured by the closure that authenticates, so it lives in the closure context that every per-socket handler shares. Suggested fix (trivial): copy the token out and drop the reference once authentication has started, e.g. \`let token: string | undefined = offered?.slice(…); if (token) queue = queue.then(() => { const t = token!; token = undefined; return authenticate(t); })\` — and do not keep \`offered\` in scope.`,
      );
    }
    if (closures > 0)
      lines.push(
        `  - ≈ ${fmt(closures)} B: the ~15 closures \`attach()\` creates per socket (send, close, strike, allowFrame, scheduleExpiry, authenticate, handle, errorFrame, setStatus, three socket listeners, …) and their contexts. Turning the per-connection state into one object with shared functions (a class or module-level functions taking the connection) would leave only the state.`,
      );
    if (timers > 0)
      lines.push(
        `  - ≈ ${fmt(timers)} B: timers — three \`Timeout\` objects per socket (the cleared auth timer stays referenced, plus two expiry timers), and because every socket's expiry is a different number of milliseconds Node creates a separate \`TimersList\` for most of them. One shared sweep (say once a second over sockets bucketed by expiry second) would replace 2–3 timers per socket.`,
      );
    lines.push(
      `- **Caps on sockets per process.** Nothing in the node's code caps the number of sockets: no \`maxConnections\`, the member cache is bounded by conversations (200,000 entries), not sockets. The caps found are the machine's: 20,000 open files per process (hard limit; this is what stops one process well below 100,000 here — a production host needs \`LimitNOFILE\` raised) and memory (≈ ${fmt(i.socketsPerGiB)} sockets per GiB of RSS as measured). Worth knowing towards 100,000:`,
      `  - Graceful shutdown: ${r.shutdown ? `closing the node with ${fmt(r.shutdown.sockets)} sockets open took ${r.shutdown.seconds.toFixed(1)} s. ` : ''}\`close()\` of \`createSocketServer\` (node/ws/socket-server.ts) collects its sockets in a \`Set\`; every socket gets its own 2-s fallback timer during the drain.`,
      `  - The node listens with a backlog of 4,096 (node/main.ts; Node's default is 511), so a crowd reconnecting after a restart does not meet SYN retries; the benchmark keeps at most ${r.generators.count} × ${r.generators.connectConcurrency} handshakes in flight.`,
      `- **Heartbeat.** Every socket is pinged once per \`HEARTBEAT_SECONDS\` (30 s) and dropped on a missed pong; the pings are spread over the interval in 100-ms slices (node/ws/socket-server.ts). Pinging all 15,000 at once held the event loop ~400 ms every 30 s — most of the p99 at 10,000/s before it was spread.`,
      `- **Frame size vs. group size.** \`group.create\` and \`group.invite\` accept up to 10,000 members in their schema (protocol/frames.ts), but at the default \`MAX_FRAME_BYTES\` of 64 KiB a frame holds only about 2,400 addresses of the bench's length (\`u00001@bench.campus.test\`), fewer with longer names; the benchmark creates its group with 1,000 per frame.`,
    );
  }
  if (r.scale === 'full' && r.idle && r.idle.connected < r.idle.target) {
    lines.push(
      `- Only ${fmt(r.idle.connected)} of ${fmt(r.idle.target)} sockets connected: ${JSON.stringify(r.idle.failures)}.`,
    );
  }
  return lines;
}

/** The stand-in servers' best rate and latency-target runs beside the node's, in a sentence; null when they did not run. */
function ceilingSummary(r: Results): string | null {
  const rate = latencyRateOf(r);
  const describe = (name: string, sweep: DmSweep | null) => {
    const best = bestStep(sweep);
    if (!best) return null;
    const runs = latencyRuns(sweep, rate);
    return `${name} reached at best ${fmt(best.acksPerS)} msg/s${runs.length ? ` and its delivery p99 at ${fmt(rate)}/s was ${runs.map((x) => ms(x.delivery.p99)).join(', ')} (${runs.map((x) => `${fmt(x.acksPerS)} acks/s`).join(', ')})` : ''}`;
  };
  const parts = [
    describe('a stand-in server that only relays (no tokens checked, nothing stored)', r.ceiling.memory),
    describe('one that also group-commits each message into MariaDB', r.ceiling.durable),
    describe("one that then also indexes each message's text as the node's search index does", r.ceiling.indexed),
  ].filter(Boolean);
  if (parts.length === 0) return null;
  const best = bestStep(r.dm);
  const durable = bestStep(r.ceiling.durable);
  const indexed = bestStep(r.ceiling.indexed);
  const share = (of: { acksPerS: number }) => pct((100 * best!.acksPerS) / Math.max(1, of.acksPerS));
  return (
    `**What this machine can carry at all** (section 6): with the same generators on the same two cores, ${parts.join('; ')}. ` +
    `A target that even the stand-in misses cannot be shown on this machine by any server.` +
    (best && durable ? ` The node's best rate is ${share(durable)} of the durable stand-in's.` : '') +
    (best && indexed ? ` It is ${share(indexed)} of the rate of the stand-in that also indexes.` : '')
  );
}

function closedTargetRows(r: Results, v: Verdicts): string[][] {
  const rows: string[][] = [];
  const lone = loneStep(r);
  if (lone)
    rows.push([
      `a lone message waits for nobody: 2 pairs × 2 messages in flight (closed loop), send→receive p50 ≤ ${LONE_P50_TARGET_MS} ms and p99 ≤ ${LONE_P99_TARGET_MS} ms`,
      `${fmt(lone.acksPerS)} acks/s; send→receive ${pctl(lone.delivery)}`,
      verdict(v.lone),
    ]);
  if (v.closedRate !== null)
    rows.push([
      `closed loop at ${closedShapes(r)
        .map((s) => `${s.pairs}×${s.inFlight}`)
        .join(', ')} (pairs × in flight): no lower rate than the fixed window (\`FLUSH_MODE=window\`, same run)`,
      `eager vs. window: ${closedRates(r)}`,
      verdict(v.closedRate),
    ]);
  return rows;
}

/** What a phase waited for the search indexer before it began (run.ts, waitForIndexer). */
function indexerWaitNote(phase: string, w: IndexerWait): string {
  if (w.queuedBefore === 0) return `Before the ${phase} phase the search index's queue was empty: nothing to wait for.`;
  const left =
    w.queuedAfter === 0
      ? 'the indexer had taken them all'
      : `${fmt(w.queuedAfter)} were still queued at the limit of ${w.limitSeconds} s, and the indexer went on writing them during the phase`;
  return `Before the ${phase} phase the search index's queue held ${fmt(w.queuedBefore)} rows from the phases before (the indexer moves them into the FULLTEXT index, competing with whatever runs for MariaDB); the phase waited ${w.seconds.toFixed(1)} s for them, and ${left}.`;
}

function closedLoopSection(r: Results): string[] {
  const c = r.closedLoop!;
  const count = c.steps[0]?.rounds.length ?? 0;
  const rounds = count === 1 ? 'one round' : `${count} rounds`;
  const cell = (s: ClosedLoopStep | undefined, other: ClosedLoopStep | undefined) =>
    s
      ? [
          s.mode,
          fmt(s.acksPerS),
          other ? pct((100 * s.acksPerS) / Math.max(1, other.acksPerS)) : '–',
          fmt(s.deliveriesPerS),
          `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`,
          `${ms(s.delivery.p50)} / ${ms(s.delivery.p95)} / ${ms(s.delivery.p99)} / ${ms(s.delivery.max)}`,
          `${(s.flushes.messages / Math.max(1, s.flushes.count)).toFixed(1)} (${ms(s.flushes.meanMs)})`,
          ...usageCells(s.usage),
          [
            Object.keys(s.errors).length ? `errors ${JSON.stringify(s.errors)}` : '',
            s.unacked ? `${fmt(s.unacked)} unacked` : '',
            s.undelivered ? `**${fmt(s.undelivered)} acked but not delivered**` : '',
            other && s.rounds.length > 1
              ? `rounds: ${s.rounds.map((rate, i) => pct((100 * rate) / Math.max(1, other.rounds[i] ?? 0))).join(', ')}`
              : '',
          ]
            .filter(Boolean)
            .join('; ') || '–',
        ]
      : [];
  const rows = closedShapes(r).flatMap((shape) =>
    [cell(shape.eager, shape.window), cell(shape.window, shape.eager)]
      .filter((row) => row.length > 0)
      .map((row) => [`${shape.pairs} × ${shape.inFlight}`, ...row]),
  );
  return [
    '### Closed loop: chat users waiting for their acks (eager commit vs. the fixed window)',
    '',
    `As a chat user sends: each sender keeps a few messages unacknowledged and sends the next as soon as one is acked, so the rate is what the node's answers allow (bench/node/closed-loop.ts). Shapes are pairs × messages in flight per sender. ` +
      `Each shape ran on the eager committer (\`FLUSH_MODE=eager\`, the default: a send that finds nothing being written is committed at once, and the ${c.flushWindowMs}-ms window gathers only what arrives while a flush runs) and on the fixed window (\`FLUSH_MODE=window\`: every batch, a lone send too, waits ${c.flushWindowMs} ms first, with \`FLUSH_LANES=1\` and \`FLUSH_CONCURRENCY=3\`: one lane, up to 3 flushes open, as the node committed before). ` +
      `Each mode ran on a fresh node process holding only the pairs' sockets, in ${rounds} of ${c.steps[0]?.seconds ?? '–'} s per shape, the first second of each left out; the modes alternated from round to round (eager, window, window, eager, …, the other first at the next shape), since this machine's speed drifts within a minute by more than the difference measured. A mode's figures are its rounds together. *vs. other* is this mode's rate in % of the other's at the same shape (*notes*: the same for each round and the other mode's round next to it); *send→receive* is from the sender writing the frame to the receiver reading the message; *messages per flush* counts the node's transactions in the step (one per flush; its statements are counted with Sequelize hooks in both modes alike), and a flush's time is from its transaction's start to its commit.`,
    '',
    table(
      [
        'pairs × in flight',
        'flush',
        'acks/s',
        'vs. other',
        'deliveries/s',
        'ack p50 / p99',
        'send→receive p50 / p95 / p99 / max',
        'messages per flush (time per flush)',
        ...USAGE_HEADER,
        'notes',
      ],
      rows,
    ),
    '',
    ...(c.indexerWait ? [indexerWaitNote('closed-loop', c.indexerWait), ''] : []),
    ...(c.steps.some((x) => x.usage.othersCpu > 20)
      ? [
          `Other work ran on the machine during these steps (*others' CPU* up to ${pct(Math.max(...c.steps.map((x) => x.usage.othersCpu)))} of a core): a closed loop's rate and latency follow whatever CPU the node, MariaDB and the generators get, so these figures say more about the machine than about the committer.`,
          '',
        ]
      : []),
  ];
}

/** Statements counted on one table (any verb). */
function statementsOn(db: DbProfile, table: string): number {
  return Object.entries(db.counts.statements)
    .filter(([kind]) => kind.endsWith(` ${table}`))
    .reduce((sum, [, x]) => sum + x.count, 0);
}

/** Whether other people's work used a noticeable share of the machine during the direct-message steps. */
function othersBusy(r: Results): boolean {
  return (r.dm?.steps ?? []).some((x) => x.usage.othersCpu > 20);
}

function sharesOf(p: ProfileSummary | null, names: string[]): string {
  if (!p) return '–';
  const total = p.packages.filter((x) => names.includes(x.name)).reduce((a, x) => a + x.percent, 0);
  return `${total.toFixed(0)}%`;
}

/** The node's flush settings when nothing sets them (a secret given, so that none is written to ./data). */
const FLUSH_DEFAULTS = loadNodeConfig({ NODE_DOMAIN: 'defaults.invalid', NODE_SECRET_KEY: 'x'.repeat(43) });

export function writeBenchmarks(file: string, r: Results): void {
  writeSection(file, 'Domain node', renderSection(r));
}
