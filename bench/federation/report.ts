import type { QueryCounts } from '../shared/node-process.ts';
import type { ActivityRule, ProfileSummary } from '../shared/profile-summary.ts';
import type { Percentiles } from '../shared/percentiles.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { writeSection } from '../shared/benchmarks-file.ts';
import type { DepthSample, Drain, Profiled, Results, Step, Usage } from './results.ts';

const THROUGHPUT_TARGET = 5_000;
const LATENCY_RATE = 1_000;
const LATENCY_P99_MS = 100;

/** What a federation process was doing, judged from the innermost stack frame that says so. */
export const FEDERATION_ACTIVITIES: ActivityRule[] = [
  {
    name: 'database: Sequelize + mysql2',
    test: (f) =>
      /node_modules\/(sequelize|mysql2|lru\.min|sqlstring|sql-escaper|denque|long|iconv-lite|generate-function|seq-queue|named-placeholders|lodash|moment|moment-timezone|dottie|inflection|validator|retry-as-promised)\//.test(
        f.url,
      ),
  },
  {
    name: 'request signatures (Ed25519, SHA-256 of bodies)',
    test: (f) => f.url.endsWith('/im/federation/signature.ts'),
  },
  { name: 'HTTP client (fetch / undici)', test: (f) => /^node:internal\/deps\/undici/.test(f.url) },
  {
    name: 'HTTP server (node:http, Express, body parsing)',
    test: (f) =>
      /node_modules\/(express|router|body-parser|raw-body|finalhandler|on-finished|type-is|content-type|mime-types|qs|depd|path-to-regexp|send|http-errors|statuses)\//.test(
        f.url,
      ) || /^node:(_http_|internal\/http)/.test(f.url),
  },
  { name: 'zod validation', test: (f) => /node_modules\/zod\//.test(f.url) || f.url.endsWith('/core/validate.ts') },
  {
    name: 'metrics and logging (prom-client, pino)',
    test: (f) =>
      /node_modules\/(prom-client|pino|pino-std-serializers|sonic-boom|thread-stream)\//.test(f.url) ||
      f.url.endsWith('/core/metrics.ts'),
  },
  {
    name: 'WebSocket sends and fan-out (ws, registry, presenters, bus)',
    test: (f) =>
      /node_modules\/ws\/lib\/sender\.js/.test(f.url) ||
      /\/im\/(ws\/registry|messages\/fan-out|messages\/present-message|bus\/local-bus)\.ts$/.test(f.url),
  },
  {
    name: 'WebSocket intake and the send use-case (frames, handlers, group commit)',
    test: (f) =>
      /node_modules\/ws\/lib\//.test(f.url) || /\/im\/(ws\/|messages\/|conversations\/|protocol\/)/.test(f.url),
  },
  {
    name: 'federation code (outbox, routes, apply, proxy; JSON)',
    test: (f) => /\/im\/(federation|proxy)\//.test(f.url),
  },
  {
    name: 'token verification (jose)',
    test: (f) => /node_modules\/jose\//.test(f.url) || f.url.endsWith('/im/auth/token-verifier.ts'),
  },
];

const fmt = (n: number | null | undefined) =>
  n !== null && n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–';
const ms = (n: number) =>
  Number.isFinite(n) ? (n >= 100 ? `${Math.round(n).toLocaleString('en')} ms` : `${n.toFixed(1)} ms`) : '–';
const secs = (n: number | null | undefined) =>
  n !== null && n !== undefined && Number.isFinite(n) ? `${n.toFixed(1)} s` : '–';
const pct = (n: number | null) => (n === null || !Number.isFinite(n) ? '–' : `${Math.round(n)}%`);
const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');
const esc = (s: string) => s.replace(/\|/g, '\\|');

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function pctl(p: Percentiles): string {
  return `p50 ${ms(p.p50)}, p95 ${ms(p.p95)}, p99 ${ms(p.p99)}, max ${ms(p.max)} (${fmt(p.count)} samples)`;
}

/** Replies are received at eng (the home); eng's outbox then holds arts' own copies, which do not count here. */
const keptUp = (s: Step) =>
  s.direction === 'arts→eng' ? s.acksPerS >= 0.95 * s.offered && s.deliveriesPerS >= 0.95 * s.offered : s.keptUp;

/** The best rate eng → arts sustained: received at arts in a step that kept up (no growing backlog). */
export function bestSustained(r: Results): Step | null {
  const kept = r.sweep.filter((s) => s.keptUp);
  return kept.length ? kept.reduce((a, b) => (b.deliveriesPerS > a.deliveriesPerS ? b : a)) : null;
}

/** The most received at arts per second in any step (a step that did not keep up shows the pipeline's ceiling). */
function ceiling(r: Results): Step | null {
  const all = [...r.sweep, ...(r.latency ? [r.latency] : [])];
  return all.length ? all.reduce((a, b) => (b.deliveriesPerS > a.deliveriesPerS ? b : a)) : null;
}

type Verdicts = { throughput: boolean | null; latency: boolean | null; drainIntact: boolean | null };

function verdicts(r: Results): Verdicts {
  const best = bestSustained(r);
  const lat = r.latency;
  const d = r.drain;
  return {
    throughput: r.sweep.length ? (best?.deliveriesPerS ?? 0) >= THROUGHPUT_TARGET * 0.99 : null,
    latency: lat
      ? lat.deliveriesPerS >= 0.95 * lat.offered && lat.delivered >= lat.acked && lat.delivery.p99 <= LATENCY_P99_MS
      : null,
    drainIntact: d ? drainIntact(d) : null,
  };
}

const drainIntact = (d: Drain) =>
  d.totalSeconds !== null &&
  d.storedOfAcked === d.blast.acks &&
  d.artsRowsAdded === d.blast.acks &&
  d.blast.uniqueIds === d.blast.acks &&
  d.engDepthAfter === 0;

export function renderConsoleSummary(r: Results): string {
  const v = verdicts(r);
  const rows: string[][] = [['target', 'measured', 'verdict']];
  const best = bestSustained(r);
  const top = ceiling(r);
  rows.push([
    `≥ ${fmt(THROUGHPUT_TARGET)} cross-domain msg/s sustained`,
    best
      ? `${fmt(best.deliveriesPerS)}/s received at arts, kept up at ${fmt(best.offered)}/s offered`
      : `no step kept up${top ? ` (at most ${fmt(top.deliveriesPerS)}/s received, offered ${fmt(top.offered)}/s)` : ''}`,
    v.throughput === null ? 'not measured' : v.throughput ? 'met' : 'missed',
  ]);
  if (r.latency)
    rows.push([
      `p99 ≤ ${LATENCY_P99_MS} ms at ${fmt(r.latency.offered)}/s`,
      `p50 ${ms(r.latency.delivery.p50)}, p99 ${ms(r.latency.delivery.p99)}, max ${ms(r.latency.delivery.max)} (${fmt(r.latency.deliveriesPerS)}/s received)`,
      v.latency ? 'met' : 'missed',
    ]);
  if (r.lowRate)
    rows.push([
      `(latency well below capacity, ${fmt(r.lowRate.offered)}/s)`,
      `p50 ${ms(r.lowRate.delivery.p50)}, p99 ${ms(r.lowRate.delivery.p99)}, max ${ms(r.lowRate.delivery.max)}`,
      r.lowRate.keptUp ? 'kept up' : 'did not keep up',
    ]);
  if (r.drain) {
    const d = r.drain;
    rows.push([
      `drain a backlog of ${fmt(d.total)} events`,
      d.totalSeconds !== null
        ? `${secs(d.totalSeconds)} after arts was back (retry wait ${secs(d.waitSeconds)}, then ${secs(d.drainSeconds)} at ${fmt(d.ratePerS)} events/s)`
        : `not drained within the bound (${fmt(d.engDepthAfter)} left)`,
      v.drainIntact ? 'measured; none lost or duplicated' : 'measured; CHECK FAILED (see the report)',
    ]);
  }
  if (r.reply)
    rows.push([
      `replies from arts (remote submits), ${fmt(r.reply.offered)}/s`,
      `${fmt(r.reply.acksPerS)} acks/s; ack p99 ${ms(r.reply.ack.p99)}; at eng p99 ${ms(r.reply.delivery.p99)}`,
      'no target',
    ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    `Summary (${r.scale} run, ${(r.seconds / 60).toFixed(1)} min; load ${r.loadAtStart} → ${r.loadAtEnd})`,
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

const USAGE_HEADER = [
  'eng CPU',
  'arts CPU',
  'proxy CPU',
  'MariaDB CPU',
  'bench CPU',
  "others' CPU",
  'machine busy',
  'load avg',
];
const usageCells = (u: Usage | null): string[] =>
  u
    ? [
        `${pct(u.engCpu)} (loop ${pct(u.engLoop)})`,
        `${pct(u.artsCpu)} (loop ${pct(u.artsLoop)})`,
        pct(u.proxyCpu),
        pct(u.mariadbCpu),
        pct(u.benchCpu),
        pct(u.othersCpu),
        pct(u.machineBusy),
        u.load,
      ]
    : USAGE_HEADER.map(() => '–');

function stepTable(steps: Step[]): string {
  const rows = steps.map((s) => [
    fmt(s.offered),
    fmt(s.sentPerS),
    fmt(s.acksPerS),
    fmt(s.deliveriesPerS),
    `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`,
    `${ms(s.delivery.p50)} / ${ms(s.delivery.p95)} / ${ms(s.delivery.p99)} / ${ms(s.delivery.max)}`,
    `${fmt(s.depth.atWindowEnd)} / ${fmt(Math.max(s.depth.max, s.depth.atWindowEnd ?? 0))}`,
    s.catchUpSeconds === null ? `**${fmt(s.acked - s.delivered)} not received**` : secs(s.catchUpSeconds),
    keptUp(s) ? 'yes' : '**no**',
    ...usageCells(s.usage),
    [
      s.skipped ? `${fmt(s.skipped)} not sent (in-flight cap)` : '',
      s.duplicates ? `**${fmt(s.duplicates)} received twice**` : '',
      Object.keys(s.errors).length ? `errors ${JSON.stringify(s.errors)}` : '',
      s.unacked ? `${fmt(s.unacked)} unacked` : '',
      s.direction === 'arts→eng' && (s.depth.atWindowEnd ?? 0) > s.offered
        ? `arts' own copies lag: ${fmt(s.depth.atWindowEnd)} in eng's outbox at the window's end`
        : '',
    ]
      .filter(Boolean)
      .join('; ') || '–',
  ]);
  return table(
    [
      'offered msg/s',
      'sent/s',
      'acks/s',
      'received/s',
      'ack p50 / p99',
      'send→receive p50 / p95 / p99 / max',
      'outbox at window end / max',
      'all received after the window',
      'kept up',
      ...USAGE_HEADER,
      'notes',
    ],
    rows,
  );
}

/** The outbox depth once a second, thinned to at most `max` points. */
function trend(samples: DepthSample[], max = 24): string {
  const ok = samples.filter(([, d]) => Number.isFinite(d));
  if (ok.length === 0) return '–';
  const every = Math.max(1, Math.ceil(ok.length / max));
  const picked = ok.filter((_, i) => i % every === 0 || i === ok.length - 1);
  return picked.map(([t, d]) => `${t.toFixed(0)} s: ${fmt(d)}`).join(' → ');
}

function shares(p: ProfileSummary, n: number): string {
  return p.activities
    .filter((a) => a.name !== 'idle')
    .slice(0, n)
    .map((a) => `${esc(a.name)} ${a.percent.toFixed(0)}%`)
    .join(', ');
}

function profileSection(p: Profiled): string[] {
  const out: string[] = [];
  out.push(
    `**Profiled: ${p.what}** (${secs(p.seconds)}, ${p.what.includes('drain') ? `${fmt(p.events)} events delivered` : `${fmt(p.eventsBy['eng node'] ?? p.events)} messages sent, ${fmt(p.eventsBy['arts node'] ?? Number.NaN)} stored at arts`} meanwhile; every process sampled every 0.5 ms; profiling slows them a little). ` +
      (p.usage
        ? `CPU meanwhile: eng ${pct(p.usage.engCpu)}, arts ${pct(p.usage.artsCpu)}, proxy ${pct(p.usage.proxyCpu)}, MariaDB ${pct(p.usage.mariadbCpu)}, bench ${pct(p.usage.benchCpu)}, others ${pct(p.usage.othersCpu)}; load ${p.usage.load}.`
        : ''),
    '',
  );
  out.push(
    table(
      ['process', 'main thread busy', 'where the busy time goes (share of all samples)', 'profile'],
      p.profiles.map((x) => [
        x.process,
        x.summary
          ? `${fmt(x.summary.busyMs)} of ${fmt(x.summary.totalMs)} ms (${((100 * x.summary.busyMs) / Math.max(1, x.summary.totalMs)).toFixed(0)}%)`
          : '–',
        x.summary ? shares(x.summary, 7) : '–',
        x.file ? `\`${x.file}\`` : '–',
      ]),
    ),
    '',
  );
  for (const x of p.profiles) {
    if (!x.summary) continue;
    out.push(
      `Top functions by self time, ${x.process}: ${x.summary.functions
        .filter((f) => !f.name.startsWith('(idle)'))
        .slice(0, 8)
        .map((f) => `\`${esc(f.name)}\` ${f.percent.toFixed(1)}%`)
        .join(', ')}.`,
      '',
    );
  }
  for (const d of p.db) {
    const n = Math.max(1, p.eventsBy[d.process] ?? p.events);
    const [unit, units] = p.what.includes('drain')
      ? ['event', 'events']
      : d.process === 'arts node'
        ? ['message stored', 'messages stored']
        : ['message sent', 'messages sent'];
    const rows = Object.entries(d.counts.statements)
      .sort((a, b) => b[1].count - a[1].count)
      .slice(0, 12)
      .map(([kind, s]) => [kind, fmt(s.count), (s.count / n).toFixed(2), ms(s.ms / Math.max(1, s.count))]);
    const tx = d.counts.transactions;
    rows.push([
      '(transactions)',
      fmt(tx.count),
      (tx.count / n).toFixed(3),
      `${ms(tx.ms / Math.max(1, tx.count))} (max ${ms(tx.maxMs)})`,
    ]);
    const total = Object.values(d.counts.statements).reduce((s, x) => s + x.count, 0);
    out.push(
      `Database statements of the ${d.process} (Sequelize query hooks, ${secs(d.counts.wallMs / 1000)} counted, ${fmt(n)} ${units} meanwhile): ${fmt(total)} in all, ${(total / n).toFixed(1)} per ${unit}.`,
      '',
      table(['statement', 'count', `per ${unit}`, 'mean time from send to answer'], rows),
      '',
    );
  }
  return out;
}

function statementsPerEvent(p: Profiled | null, process: 'eng node' | 'arts node'): number | null {
  const d = p?.db.find((x) => x.process === process);
  const events = p ? (p.eventsBy[process] ?? p.events) : 0;
  if (!d || events <= 0) return null;
  return Object.values(d.counts.statements).reduce((s, x) => s + x.count, 0) / events;
}

export function renderSection(r: Results): string {
  const v = verdicts(r);
  const out: string[] = [];
  const m = r.machine;
  const best = bestSustained(r);
  const top = ceiling(r);
  out.push('## Federation', '');
  out.push(
    `Measured by \`npm run bench:federation\` (bench/federation/run.ts; see bench/README.md) on ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ` +
      `commit \`${r.commit}\`${r.dirty.length ? ` with uncommitted changes in ${r.dirty.map((d) => `\`${d.slice(3)}\``).join(', ')} (work in progress by others, included in what ran)` : ''}; ` +
      `the run took ${(r.seconds / 60).toFixed(1)} minutes.${r.scale === 'smoke' ? " **Smoke scale — not the targets' scale.**" : ''}`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, open files ${m.openFilesLimit}; ${describeCalibration(m.calibration)}; MariaDB ${r.mariadb} on 127.0.0.1 with \`innodb_flush_log_at_trx_commit=1\` (every commit is fsynced). Load average ${r.loadAtStart} at the start, ${r.loadAtEnd} at the end.`,
    `- **The ${m.cores} cores are shared** by everything in this test — two node processes, the proxy, MariaDB (serving both nodes' databases), ${r.generators.count} load generators and the orchestrator with the gateway — and by whatever else ran on the machine. The CPU columns say who used what, in % of one core (${m.cores * 100}% is the whole machine); *loop* is a node's event-loop utilisation, *bench* the generators and the orchestrator, *others* everything else on the machine; the load average is the one at the end of the step.`,
    `- What runs: the gateway in the orchestrator (SQLite) with the domains \`${r.domains.eng}\` and \`${r.domains.arts}\`, the proxy's key registered (\`addProxy\`), both domains' keys pinned before their nodes start, from the keys documents their databases give (\`pinNodeBeforeStart\`), and the pair allowed (\`allowPair\`); the federation proxy (\`startProxy\`, ${Object.entries(
      r.proxyEnv,
    )
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(
        ', ',
      )}) and the two domain nodes (\`startNode\`, each on its own MariaDB database, \`FEDERATION_PROXY_URL\` = the proxy, ${Object.entries(
      r.nodeEnv,
    )
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(
        ', ',
      )}) each in a child process of its own; ${r.generators.count} load generators (from ${r.generators.addresses.join(', ')}) holding both people of each pair, speaking the protocol's JSON frames over raw \`ws\`, with access tokens minted with the gateway's real signing key as in \`bench:node\`.`,
    `- ${fmt(r.setup?.opened ?? r.pairs)} pairs, each an eng person and an arts person in a direct conversation opened by the eng person's first message \`to\` the arts person. The eng addresses sort lower, so eng is every conversation's home: an eng person's message is a local group commit on eng that also writes an outbox row for arts in the same transaction (the ack follows the commit), then eng's outbox sends it — in transactions of at most 500 events, one in flight per destination — as a signed POST through the proxy, which checks the signature and the policy and forwards it unchanged; arts verifies it, applies it in one database transaction and delivers it to the arts person's socket. *send→receive* is from the eng sender writing the frame to the arts receiver reading it (the send time travels in the text; same machine, same clock). *received/s* counts messages read by arts receivers in the step's window (its first second left out); a step *kept up* when acks and receptions were ≥ 95% of the offered rate and eng's outbox held no more than one second's worth at the window's end. The outbox depth is eng's \`atrium_federation_outbox_depth{destination="${r.domains.arts}"}\` from its \`/metrics\`, read once a second.`,
    '',
  );

  out.push('### Targets', '');
  const rows: string[][] = [];
  rows.push([
    `≥ ${fmt(THROUGHPUT_TARGET)} cross-domain messages/s sustained`,
    best
      ? `best sustained: ${fmt(best.deliveriesPerS)}/s received at arts at ${fmt(best.offered)}/s offered${top && top !== best && top.deliveriesPerS > best.deliveriesPerS ? `; at most ${fmt(top.deliveriesPerS)}/s received in a step that did not keep up` : ''}`
      : `no step kept up${top ? `; at most ${fmt(top.deliveriesPerS)}/s received at arts (offered ${fmt(top.offered)}/s)` : ''}`,
    verdict(v.throughput),
  ]);
  if (r.latency)
    rows.push([
      `p99 send→receive ≤ ${LATENCY_P99_MS} ms at ${fmt(r.latency.offered)}/s`,
      `${fmt(r.latency.deliveriesPerS)}/s received; ${pctl(r.latency.delivery)}`,
      r.latency.offered === LATENCY_RATE ? verdict(v.latency) : `${verdict(v.latency)} (at smoke scale)`,
    ]);
  if (r.drain) {
    const d = r.drain;
    rows.push([
      `time to drain a backlog of ${fmt(d.total)} events after an outage`,
      d.totalSeconds !== null
        ? `${secs(d.totalSeconds)} from arts listening again to the last event stored: ${secs(d.waitSeconds)} until eng retried (its backoff), then ${secs(d.drainSeconds)} of delivery at ${fmt(d.ratePerS)} events/s; ${drainIntact(d) ? `all ${fmt(d.blast.acks)} stored once` : '**check failed, see below**'}`
        : `**not drained** within the bound; ${fmt(d.engDepthAfter)} events left in eng's outbox`,
      'measured (no figure set)',
    ]);
  }
  out.push(table(['target (two nodes and the proxy on this machine)', 'measured', 'verdict'], rows), '');
  if (r.errors.length)
    out.push(`**Phases that failed:** ${r.errors.map((e) => `\`${e.replace(/`/g, "'")}\``).join('; ')}`, '');

  if (r.setup) {
    out.push(
      `Setup: ${fmt(r.setup.opened)} conversations opened in ${secs(r.setup.seconds)}; all first messages were at arts ${secs(r.setup.deliveredSeconds)} after the first was sent (each first message also carries the conversation's snapshot to arts)${Object.keys(r.setup.failures).length ? `; failures ${JSON.stringify(r.setup.failures)}` : ''}.`,
      '',
    );
  }

  if (r.latency) {
    out.push(`### 1. Latency at ${fmt(r.latency.offered)} messages/s`, '');
    out.push(
      `${fmt(r.latency.offered)} messages/s offered for ${r.latency.seconds} s, open loop, round robin over the pairs, eng → arts${r.lowRate ? `; then, for the latency of the path itself without queueing, ${fmt(r.lowRate.offered)}/s for ${r.lowRate.seconds} s` : ''}.`,
      '',
      stepTable([r.latency, ...(r.lowRate ? [r.lowRate] : [])]),
      '',
    );
    out.push(
      `Outbox depth (eng → arts), once a second, at ${fmt(r.latency.offered)}/s: ${trend(r.latency.depth.samples)}${r.lowRate ? `; at ${fmt(r.lowRate.offered)}/s: ${trend(r.lowRate.depth.samples)}` : ''}.`,
      '',
    );
  }

  if (r.sweep.length) {
    out.push('### 2. Throughput, eng → arts', '');
    out.push(
      `Each step offers its rate for its length (open loop; at most one second's worth unacknowledged per generator), then waits until every acknowledged message has been received at arts (at most ${r.scale === 'full' ? 120 : 20} s), and the next step starts once eng's outbox is empty.` +
        (r.skipped.length
          ? ` Skipped: ${r.skipped.map(fmt).join(', ')}/s (a lower rate already did not keep up).`
          : ''),
      '',
      stepTable(r.sweep),
      '',
      'Outbox depth (eng → arts) during each step and its catch-up, once a second:',
      '',
      ...r.sweep.map((s) => `- ${fmt(s.offered)}/s: ${trend(s.depth.samples)}`),
      '',
    );
  }

  if (r.reply) {
    out.push('### 3. Replies from arts (remote submits to the home)', '');
    out.push(
      `The arts people write into the same conversations at a moderate ${fmt(r.reply.offered)} messages/s for ${r.reply.seconds} s. Each send is a synchronous signed \`submit\` from arts through the proxy to eng (the home), which orders and commits it and answers; arts then acks its sender (so the *ack* columns are arts' round trip through the proxy and eng's commit), eng delivers it to the eng person (*send→receive*, *received/s*), and eng's outbox sends the entry back to arts for arts' copy (the outbox column).`,
      '',
      stepTable([r.reply]),
      '',
    );
  }

  if (r.drain) {
    const d = r.drain;
    out.push(`### 4. Backlog of ${fmt(d.total)} events after an outage`, '');
    out.push(
      `The arts node was stopped (SIGTERM to its process; the bench child has no handler for it, so it dies at once, like a crash), then the eng people sent ${fmt(d.total)} messages as fast as eng took them (closed loop, at most ${fmt(d.blastInFlight)} unacknowledged per generator): eng acknowledged ${fmt(d.blast.acks)} in ${secs(d.blast.seconds)} (${fmt(d.blast.acksPerS)}/s; ack ${pctl(d.blast.ack)})${Object.keys(d.blast.errors).length ? `, errors ${JSON.stringify(d.blast.errors)}` : ''}. ` +
        `Eng's outbox then held ${fmt(d.depthBefore)} events for arts${d.peer ? `, after ${fmt(d.peer.attempts)} failed delivery attempt${d.peer.attempts === 1 ? '' : 's'} (last error \`${esc((d.peer.lastError ?? '–').slice(0, 140)).replace(/`/g, "'")}\`); its next attempt was due ${secs(d.peer.nextAttemptInSeconds)} after arts was back` : ''}. ` +
        `Then arts started again on the same database and port.`,
      '',
      table(
        ['', 'time'],
        [
          ['outage (arts stopped → listening again)', secs(d.outageSeconds)],
          ['arts start (process start → listening)', secs(d.restartSeconds)],
          ["arts listening → first transaction from eng applied (eng's retry backoff)", secs(d.waitSeconds)],
          [
            `first transaction applied → eng's outbox empty (delivery of ${fmt(d.depthBefore)} events)`,
            secs(d.drainSeconds),
          ],
          ['**arts listening → every event stored**', `**${secs(d.totalSeconds)}**`],
          [
            'drain rate',
            `${fmt(d.ratePerS)} events/s (${fmt(d.transactions)} transactions, ≈ ${d.transactions ? (d.depthBefore / d.transactions).toFixed(0) : '–'} events each)`,
          ],
        ],
      ),
      '',
      `Outbox depth (eng → arts) from arts' restart, once a second: ${trend(d.depthSamples, 30)}.`,
      '',
      `Nothing lost, nothing twice: ${fmt(d.blast.acks)} acknowledged message ids (${fmt(d.blast.uniqueIds)} distinct); arts' database holds ${fmt(d.storedOfAcked)} of them, and ${fmt(d.artsRowsAdded)} rows were added to its messages during the phase; eng's outbox holds ${fmt(d.engDepthAfter)} afterwards — ${drainIntact(d) ? '**every event stored exactly once**' : '**MISMATCH**'}.` +
        ` CPU from arts' restart to the end: ${usageLine(d.usage)}.`,
      '',
    );
  }

  const profiled = [r.profiledStep, r.drain?.profiled ?? null].filter((p): p is Profiled => p !== null);
  if (profiled.length) {
    out.push('### Where the time goes', '');
    for (const p of profiled) out.push(...profileSection(p));
  }

  out.push('### Logs', '');
  const noisy = r.logs.filter((l) => l.errors + l.warnings > 0);
  if (noisy.length === 0) out.push('No process logged a warning or an error.', '');
  for (const l of noisy) {
    out.push(
      `The ${l.process} logged ${fmt(l.errors)} errors and ${fmt(l.warnings)} warnings${l.process === 'eng node' && r.drain ? ' (the failed deliveries while arts was down are expected)' : ''}:`,
      '',
      table(
        ['message', 'count'],
        l.top.map((t) => [`\`${esc(t.message).replace(/`/g, "'")}\``, fmt(t.count)]),
      ),
      '',
    );
  }
  if (Object.keys(r.dropped).length)
    out.push(
      `Sockets closed by a node under the generators: ${Object.entries(r.dropped)
        .map(([c, n]) => `${c}: ${fmt(n)}`)
        .join(', ')}.`,
      '',
    );

  out.push('### Findings', '');
  out.push(...findings(r, v).map((f) => (f.startsWith('  - ') ? f : `- ${f}`)), '');
  return out.join('\n');
}

function usageLine(u: Usage | null): string {
  return u
    ? `eng ${pct(u.engCpu)}, arts ${pct(u.artsCpu)}, proxy ${pct(u.proxyCpu)}, MariaDB ${pct(u.mariadbCpu)}, bench ${pct(u.benchCpu)}, others ${pct(u.othersCpu)}; machine ${pct(u.machineBusy)} busy, load ${u.load}`
    : '–';
}

function findings(r: Results, v: Verdicts): string[] {
  const out: string[] = [];
  const best = bestSustained(r);
  const top = ceiling(r);
  const drainProfile = r.drain?.profiled ?? null;
  const stepProfile = r.profiledStep;
  const busy = (p: ProfileSummary | null | undefined) => (p ? pct((100 * p.busyMs) / Math.max(1, p.totalMs)) : '–');
  const statements = (c: QueryCounts | undefined) =>
    c ? Object.values(c.statements).reduce((s, x) => s + x.count, 0) : 0;
  const mostAcked = r.sweep.length ? r.sweep.reduce((a, b) => (b.acksPerS > a.acksPerS ? b : a)) : null;

  // Verdicts first.
  if (v.throughput === false) {
    out.push(
      `**The throughput target is missed:** ${best ? `the best step that kept up carried ${fmt(best.deliveriesPerS)} messages/s (offered ${fmt(best.offered)}/s)` : 'no step kept up'}${top ? `; arts never received more than ${fmt(top.deliveriesPerS)}/s` : ''}${r.drain?.ratePerS ? `, and it drained the backlog — nothing but federation traffic — at ${fmt(r.drain.ratePerS)} events/s` : ''}. ` +
        (mostAcked
          ? `The origin is not the limit: eng acknowledged ${fmt(mostAcked.acksPerS)} messages/s at ${fmt(mostAcked.offered)}/s offered (outbox rows included, ack p99 ${ms(mostAcked.ack.p99)}); what it acknowledges beyond arts' rate piles up in its outbox (see the depth trends) and reaches arts later, in order.`
          : ''),
    );
  } else if (v.throughput) {
    out.push(
      `**The throughput target is met:** ${fmt(best!.deliveriesPerS)} messages/s received at arts at ${fmt(best!.offered)}/s offered, with eng's outbox not growing.`,
    );
  }
  if (v.latency !== null && r.latency) {
    const low = r.lowRate;
    out.push(
      (v.latency
        ? `**p99 at ${fmt(r.latency.offered)}/s is within ${LATENCY_P99_MS} ms:** ${pctl(r.latency.delivery)} from the eng sender to the arts receiver, through eng's commit, its outbox, the proxy and arts' apply.`
        : `**p99 at ${fmt(r.latency.offered)}/s misses ${LATENCY_P99_MS} ms:** ${pctl(r.latency.delivery)}${keptUp(r.latency) ? '' : `. The pipeline does not keep up at this rate (${fmt(r.latency.deliveriesPerS)}/s received), so this is the time messages spend queued in eng's outbox, growing for as long as the rate is offered`}.`) +
        (low
          ? ` Below capacity, at ${fmt(low.offered)}/s, the same path took ${pctl(low.delivery)}${low.delivery.p99 <= LATENCY_P99_MS ? `, well within ${LATENCY_P99_MS} ms: the latency target follows from the throughput one` : ''}.`
          : ''),
    );
  }
  if (r.drain) {
    const d = r.drain;
    out.push(
      d.totalSeconds !== null
        ? `**Backlog:** ${fmt(d.depthBefore)} events reached arts ${secs(d.totalSeconds)} after it was back — ${secs(d.waitSeconds)} of it waiting for eng's next retry (exponential backoff from 0.5 s, capped at 60 s, ±25% jitter, in node/federation/outbox.ts; during the ${secs(d.outageSeconds)} outage eng had failed ${fmt(d.peer?.attempts ?? null)} time${d.peer?.attempts === 1 ? '' : 's'}), then ${secs(d.drainSeconds)} of delivery at ${fmt(d.ratePerS)} events/s. ${drainIntact(d) ? 'Every event was stored exactly once.' : '**The integrity check failed** (see section 4).'}` +
            (d.usage
              ? ` The machine was only ${pct(d.usage.machineBusy)} busy meanwhile (arts ${pct(d.usage.artsCpu)} of a core, MariaDB ${pct(d.usage.mariadbCpu)}): the drain is bound by waiting, not by CPU.`
              : '')
        : `**Backlog:** not drained within the bound; ${fmt(d.engDepthAfter)} events were still in eng's outbox.`,
    );
  }

  // Where the time goes, from the drain's profile (federation traffic only).
  const arts = drainProfile?.profiles.find((p) => p.process === 'arts node')?.summary;
  const engP = drainProfile?.profiles.find((p) => p.process === 'eng node')?.summary;
  const proxyP = drainProfile?.profiles.find((p) => p.process === 'proxy')?.summary;
  const artsDb = drainProfile?.db.find((x) => x.process === 'arts node')?.counts;
  const engDb = drainProfile?.db.find((x) => x.process === 'eng node')?.counts;
  if (drainProfile && r.drain && r.drain.drainSeconds && r.drain.transactions > 0) {
    const d = r.drain;
    const perTxnMs = (1000 * (d.drainSeconds ?? 0)) / d.transactions;
    const eventsPerTxn = d.depthBefore / d.transactions;
    const artsTxMs = artsDb && artsDb.transactions.count ? artsDb.transactions.ms / artsDb.transactions.count : null;
    // Within the profiled seconds (the profiler slows both a little), so the share compares like with like.
    const profiledTxnMs =
      artsDb && artsDb.transactions.count ? (1000 * drainProfile.seconds) / artsDb.transactions.count : null;
    const artsStatements = statements(artsDb);
    const artsStatementMs = artsDb
      ? Object.values(artsDb.statements).reduce((s, x) => s + x.ms, 0) / Math.max(1, artsStatements)
      : Number.NaN;
    const profiledTxns = artsDb?.transactions.count ?? 0;
    const write = arts?.functions.find((f) => f.name === 'writeBuffer');
    out.push(
      `**Where the delivery time goes** (the drain's profile, nothing but federation traffic): a transaction of ≈ ${eventsPerTxn.toFixed(0)} events took ≈ ${ms(perTxnMs)} from one to the next (${fmt(d.transactions)} in ${secs(d.drainSeconds)})` +
        (artsTxMs !== null && profiledTxnMs !== null
          ? `; in the profiled first ${secs(drainProfile.seconds)} of it, ${ms(profiledTxnMs)} per transaction, of which arts' database transaction alone took ${ms(artsTxMs)} (${pct((100 * artsTxMs) / profiledTxnMs)}), ≈ ${ms(artsTxMs / eventsPerTxn)} per event`
          : '') +
        `. Arts issued ${statementsPerEvent(drainProfile, 'arts node')?.toFixed(1) ?? '–'} database statements per event, one after another, each waiting for its answer (mean ${ms(artsStatementMs)} from send to answer); its main thread was busy ${busy(arts)}, ${arts ? shares(arts, 1) : ''}` +
        (write && artsStatements
          ? ` — the top function is \`writeBuffer\`, the socket write of each statement to MariaDB: ${write.percent.toFixed(0)}% of the samples, ≈ ${fmt((1000 * write.ms) / artsStatements)} µs per statement`
          : '') +
        `. Eng's main thread was busy ${busy(engP)} (${profiledTxns ? (statements(engDb) / profiledTxns).toFixed(0) : '–'} statements per transaction, counting the benchmark's once-a-second read of its \`/metrics\`), the proxy's ${busy(proxyP)}.`,
      `  - Arts applies a transaction with a few statements whatever its size (node/federation/apply.ts: one read of the transaction's conversations and of the entries already stored, one multi-row INSERT, one sequence UPDATE joined to the list of conversations), so a transaction costs its round trips rather than its events.`,
      `  - One transaction of up to 500 events (\`BATCH\` in node/federation/outbox.ts) is in flight per destination: the drain runs at events per transaction ÷ time from one transaction to the next (≈ ${ms(perTxnMs)} here: eng's outbox read, signing, two HTTP hops through the proxy, arts' apply and answer, eng's delete).`,
    );
  }
  const engStep = stepProfile?.db.find((x) => x.process === 'eng node')?.counts;
  const outboxInserts = engStep?.statements['INSERT outbox']?.count ?? 0;
  const flushes = engStep?.statements['INSERT messages']?.count ?? 0;
  if (stepProfile && engStep && outboxInserts > 1.5 * flushes && flushes > 0) {
    const e = stepProfile.profiles.find((p) => p.process === 'eng node')?.summary;
    out.push(
      `**Eng writes its outbox one conversation at a time:** in the profiled ${stepProfile.what.replace(/^the /, '')} eng issued ${fmt(outboxInserts)} \`INSERT outbox\` statements in ${fmt(flushes)} flushes (${(outboxInserts / flushes).toFixed(0)} per flush; a flush transaction took ${ms(engStep.transactions.ms / Math.max(1, engStep.transactions.count))} on average, at most ${ms(engStep.transactions.maxMs)}; eng's main thread was ${busy(e)} busy), because \`recordEntries\` (node/federation/federation.ts) calls \`outbox.enqueue\` — one \`bulkCreate\` — per conversation and destination inside the flush transaction. Gathering a flush's events per destination (conversation by conversation, in order) into one \`bulkCreate\` would make it one INSERT per destination per flush and shorten the flush that every local send's ack waits for${mostAcked ? ` (ack p99 was ${ms(mostAcked.ack.p99)} at ${fmt(mostAcked.offered)}/s offered)` : ''}.`,
    );
  }
  if (r.reply) {
    const s = r.reply;
    const perSubmitUs = s.usage.proxyCpu !== null && s.acksPerS > 0 ? (10_000 * s.usage.proxyCpu) / s.acksPerS : null;
    out.push(
      `**Replies (remote submits) at ${fmt(s.offered)}/s:** ${fmt(s.acksPerS)} acks/s, ack p50 ${ms(s.ack.p50)}, p99 ${ms(s.ack.p99)}; at the eng receiver p99 ${ms(s.delivery.p99)}. Arts' event loop was ${pct(s.usage.artsLoop)} busy: it handles every submit (a signed request through the proxy, one per message, waited for before the ack) and also applies the entries coming back from eng for its own copy${(s.depth.atWindowEnd ?? 0) > s.offered ? `, which fell behind (${fmt(s.depth.atWindowEnd)} in eng's outbox at the window's end)` : ''}.` +
        (perSubmitUs !== null
          ? ` The proxy used ${pct(s.usage.proxyCpu)} of a core, ≈ ${fmt(perSubmitUs)} µs of CPU per forwarded submit (signature check, registry lookup, a \`fetch\` to the destination): negligible for the outbox's 100-event transactions, but the submit path forwards one request per message, so thousands of replies/s would need several proxy copies (it keeps no state, so copies scale out).`
          : ''),
    );
  }
  if (r.drain && r.drain.waitSeconds !== null && r.drain.waitSeconds > 2) {
    out.push(
      `**A destination that comes back waits for the origin's backoff:** arts was listening again ${secs(r.drain.waitSeconds)} before eng's next attempt. The backoff (0.5 s doubling to 60 s, ±25%) suits a destination that stays down, but after an outage of a minute or more it can leave a recovered destination idle for up to 75 s. A lower cap (say 10–15 s), or resetting the backoff when the destination is heard from again (any signed request from it), would cut that wait.`,
    );
  }
  const steps = [r.latency, r.lowRate, ...r.sweep, r.reply].filter((s): s is Step => s !== null);
  const others = Math.max(0, ...steps.map((s) => s.usage.othersCpu));
  const busiest = r.sweep.length ? r.sweep.reduce((a, b) => (b.usage.machineBusy > a.usage.machineBusy ? b : a)) : null;
  const drainUsage = r.drain?.usage ?? null;
  out.push(
    `All of this shares ${r.machine.cores} cores — two nodes, the proxy, MariaDB and the generators; other people's processes used at most ${pct(others)} of a core during the steps.` +
      (busiest
        ? ` In the throughput steps the machine was up to ${pct(busiest.usage.machineBusy)} busy (at ${fmt(busiest.offered)}/s: eng ${pct(busiest.usage.engCpu)}, arts ${pct(busiest.usage.artsCpu)}, MariaDB ${pct(busiest.usage.mariadbCpu)}, bench ${pct(busiest.usage.benchCpu)} of a core), and arts received less (${top ? fmt(top.deliveriesPerS) : '–'}/s) than in the drain${r.drain?.ratePerS ? ` (${fmt(r.drain.ratePerS)}/s)` : ''}`
        : '') +
      (drainUsage
        ? `; in the drain, with only federation traffic, the machine was ${pct(drainUsage.machineBusy)} busy: the limit there is the receiver's sequence of round trips, not the cores, so more cores alone would not bring ${fmt(THROUGHPUT_TARGET)}/s.`
        : '.'),
  );
  return out;
}

export function writeFederationSection(file: string, r: Results): void {
  writeSection(file, 'Federation', renderSection(r));
}
