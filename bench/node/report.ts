import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ProfileSummary } from './profile-summary.ts';
import type { DbProfile, DmStep, DmSweep, Percentiles, Results, Usage } from './results.ts';

const SOCKET_BYTES_TARGET = 15_000;
const DM_RATE_TARGET = 20_000;
const DM_P99_TARGET_MS = 50;
const GROUP_P99_TARGET_MS = 100;

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
const ms = (n: number) => (Number.isFinite(n) ? (n >= 100 ? `${Math.round(n).toLocaleString('en')} ms` : `${n.toFixed(1)} ms`) : '–');
const pct = (n: number | null) => (n === null || !Number.isFinite(n) ? '–' : `${Math.round(n)}%`);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**missed**');

type Verdicts = { sockets: boolean | null; socketMemory: boolean | null; throughput: boolean | null; latency: boolean | null; group: boolean | null };

function bestStep(sweep: DmSweep | null): DmStep | null {
  if (!sweep || sweep.steps.length === 0) return null;
  return [...sweep.steps].sort((a, b) => Math.min(b.acksPerS, b.deliveriesPerS) - Math.min(a.acksPerS, a.deliveriesPerS))[0]!;
}

function latencyStep(sweep: DmSweep | null, rate: number): DmStep | null {
  return sweep?.steps.find((s) => s.offered === rate) ?? null;
}

function verdicts(r: Results, latencyRate: number): Verdicts {
  const best = bestStep(r.dm);
  const lat = latencyStep(r.dm, latencyRate);
  return {
    sockets: r.idle ? r.idle.connected >= r.idle.target : null,
    socketMemory: r.idle ? r.idle.rssPerSocket <= SOCKET_BYTES_TARGET : null,
    throughput: best ? Math.min(best.acksPerS, best.deliveriesPerS) >= DM_RATE_TARGET * 0.99 : null,
    latency: lat ? lat.acksPerS >= lat.offered * 0.95 && lat.delivery.p99 <= DM_P99_TARGET_MS : null,
    group: r.group ? r.group.delivered >= r.group.expected && r.group.latency.p99 <= GROUP_P99_TARGET_MS : null,
  };
}

const latencyRateOf = (r: Results) => (r.scale === 'full' ? 10_000 : 1_000);

export function renderConsoleSummary(r: Results): string {
  const v = verdicts(r, latencyRateOf(r));
  const rows: string[][] = [['target', 'measured', 'verdict']];
  if (r.idle) {
    rows.push([`${fmt(r.idle.target)} idle sockets held`, `${fmt(r.idle.connected)}`, v.sockets ? 'met' : 'missed']);
    rows.push([`≤ 15 KB node memory per socket`, `${fmt(r.idle.rssPerSocket)} B RSS, ${fmt(r.idle.heapPerSocket)} B heap (≈ ${fmt(r.idle.socketsPerGiB)}/GiB)`, v.socketMemory ? 'met' : 'missed']);
  }
  const best = bestStep(r.dm);
  if (best) rows.push([`≥ ${fmt(DM_RATE_TARGET)} direct msg/s`, `${fmt(best.acksPerS)} acks/s, ${fmt(best.deliveriesPerS)} deliveries/s (offered ${fmt(best.offered)}/s)`, v.throughput ? 'met' : 'missed']);
  const lat = latencyStep(r.dm, latencyRateOf(r));
  if (lat) rows.push([`p99 ≤ ${DM_P99_TARGET_MS} ms at ${fmt(lat.offered)}/s`, `p50 ${ms(lat.delivery.p50)}, p99 ${ms(lat.delivery.p99)}, max ${ms(lat.delivery.max)} (${fmt(lat.acksPerS)} acks/s)`, v.latency ? 'met' : 'missed']);
  if (r.group) rows.push([`${fmt(r.group.members)}-member group, p99 ≤ ${GROUP_P99_TARGET_MS} ms`, `${fmt(r.group.delivered)}/${fmt(r.group.expected)} delivered, p50 ${ms(r.group.latency.p50)}, p99 ${ms(r.group.latency.p99)}, max ${ms(r.group.latency.max)}`, v.group ? 'met' : 'missed']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [`Summary (${r.scale} run, ${(r.seconds / 60).toFixed(1)} min)`, line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function usageCells(u: Usage): string[] {
  return [pct(u.nodeCpu), pct(u.nodeLoop), pct(u.mariadbCpu), pct(u.generatorsCpu), pct(u.machineBusy), u.load];
}
const USAGE_HEADER = ['node CPU', 'node loop busy', 'MariaDB CPU', 'generators CPU', 'machine busy (2 cores)', 'load avg'];

function dmTable(sweep: DmSweep): string {
  const rows = sweep.steps.map((s) => [
    fmt(s.offered),
    fmt(s.sentPerS),
    fmt(s.acksPerS),
    fmt(s.deliveriesPerS),
    `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`,
    `${ms(s.delivery.p50)} / ${ms(s.delivery.p95)} / ${ms(s.delivery.p99)} / ${ms(s.delivery.max)}`,
    ...usageCells(s.usage),
    [s.skipped ? `${fmt(s.skipped)} not sent (in-flight cap)` : '', Object.keys(s.errors).length ? `errors ${JSON.stringify(s.errors)}` : '', s.unacked ? `${fmt(s.unacked)} unacked after drain` : '']
      .filter(Boolean)
      .join('; ') || '–',
  ]);
  return table(['offered msg/s', 'sent/s', 'acks/s', 'deliveries/s', 'ack p50 / p99', 'delivery p50 / p95 / p99 / max', ...USAGE_HEADER, 'notes'], rows);
}

function dbTable(db: DbProfile): string {
  const n = Math.max(1, db.messages);
  const rows = Object.entries(db.counts.statements)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([kind, s]) => [kind, fmt(s.count), (s.count / n).toFixed(3), ms(s.ms / Math.max(1, s.count))]);
  const tx = db.counts.transactions;
  rows.push(['(transactions)', fmt(tx.count), (tx.count / n).toFixed(3), `${ms(tx.ms / Math.max(1, tx.count))} (max ${ms(tx.maxMs)})`]);
  return `${fmt(db.messages)} messages; on average ${(db.messages / Math.max(1, tx.count)).toFixed(1)} messages per flush transaction.\n\n${table(['statement', 'count', 'per message', 'mean time from send to answer'], rows)}`;
}

function profileTables(p: ProfileSummary | null, file: string | null): string {
  if (!p) return '_No profile._';
  const share = (rows: { name: string; ms: number; percent: number }[]) => rows.map((r) => [r.name.replace(/\|/g, '\\|'), fmt(r.ms), `${r.percent.toFixed(1)}%`]);
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
      `the run took ${(r.seconds / 60).toFixed(1)} minutes. ${r.scale === 'smoke' ? '**Smoke scale — not the targets\' scale.**' : ''}`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, open files ${m.openFilesLimit}; MariaDB ${r.mariadb} on 127.0.0.1 with \`innodb_flush_log_at_trx_commit=1\` (every commit is fsynced).`,
    `- **The 2 cores are shared** by the node process, MariaDB, ${r.generators.count} load-generator processes, the orchestrator (with the gateway) and whatever else ran on the machine (other engineers' test suites were running; the load average is given per measurement). The CPU columns show who used what: 100% = one core.`,
    `- One node process (the real \`startNode\` composition root, in-process bus and presence) with ${Object.entries(r.nodeEnv)
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(', ')}; \`FLUSH_WINDOW_MS\` and \`FLUSH_MAX_BATCH\` at their defaults (2 ms, 2,000) unless said otherwise. \`FRAMES_PER_SECOND\` is raised so that the per-socket limit of 50/s does not throttle the senders.`,
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
  if (best) rows.push([`≥ ${fmt(DM_RATE_TARGET)} direct messages/s, ack after commit`, `best: ${fmt(best.acksPerS)} acks/s and ${fmt(best.deliveriesPerS)} deliveries/s at ${fmt(best.offered)}/s offered`, verdict(v.throughput)]);
  if (lat) rows.push([`p99 send→receive ≤ ${DM_P99_TARGET_MS} ms at ${fmt(lat.offered)}/s`, `${fmt(lat.acksPerS)} acks/s achieved; delivery ${pctl(lat.delivery)}`, verdict(v.latency)]);
  if (r.group)
    rows.push([
      `group of ${fmt(r.group.members)} online members, every member within p99 ≤ ${GROUP_P99_TARGET_MS} ms`,
      `${fmt(r.group.delivered)} of ${fmt(r.group.expected)} deliveries; ${pctl(r.group.latency)}`,
      verdict(v.group),
    ]);
  out.push(table(['target (one node process on MariaDB)', 'measured', 'verdict'], rows), '');
  if (r.errors.length) out.push(`**Phases that failed:** ${r.errors.map((e) => `\`${e.replace(/`/g, "'")}\``).join('; ')}`, '');

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
          ['JS heap reserved (heapTotal)', mib(i.before.heapTotal), mib(i.after.heapTotal), `${fmt((i.after.heapTotal - i.before.heapTotal) / Math.max(1, i.connected))} B`],
          ['external (Buffers)', mib(i.before.external), mib(i.after.external), `${fmt(i.externalPerSocket)} B`],
          ['/metrics `process_resident_memory_bytes`', mib(i.metricsBefore.rss), mib(i.metricsAfter.rss), `${fmt((i.metricsAfter.rss - i.metricsBefore.rss) / Math.max(1, i.connected))} B`],
          ['/metrics `nodejs_heap_size_used_bytes`', mib(i.metricsBefore.heapUsed), mib(i.metricsAfter.heapUsed), `${fmt((i.metricsAfter.heapUsed - i.metricsBefore.heapUsed) / Math.max(1, i.connected))} B`],
        ],
      ),
      '',
      `What a socket is made of on the JS heap — heap snapshots (after a full GC) before and after ${fmt(i.heapSample.sockets)} more sockets on a separate, warmed-up node process, shallow sizes per kind of object divided by the sockets added (${fmt(i.heapSample.total)} B per socket in all; the largest kinds; "(code)" is code V8 compiled meanwhile, not a per-socket cost):`,
      '',
      table(
        ['kind of heap object', 'bytes per socket', 'objects per socket'],
        i.heapSample.groups.filter((g) => g.bytesPerSocket >= 16).map((g) => [g.name.replace(/\|/g, '\\|'), fmt(g.bytesPerSocket), g.countPerSocket.toFixed(2)]),
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
        `"acks/s" counts acks received by senders (each sent only after the message's flush transaction committed), "deliveries/s" messages received by the receivers.`,
      '',
      dmTable(d),
      '',
    );
    if (d.profiled) {
      out.push(`#### Where the time goes at ${fmt(d.profiled.offered)}/s offered (profiled run)`, '');
      out.push(
        `A separate ${d.profiled.seconds}-s run at ${fmt(d.profiled.offered)}/s offered with the node's CPU profiler on (sampling every 0.5 ms) and its database statements counted (Sequelize query hooks) — the profiler slows the node a little, so its rates are not in the table above: ${fmt(d.profiled.acksPerS)} acks/s, delivery p99 ${ms(d.profiled.delivery.p99)}, node CPU ${pct(d.profiled.usage.nodeCpu)}, MariaDB ${pct(d.profiled.usage.mariadbCpu)}.`,
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
        ['deliveries', 'per-delivery latency', 'sender ack', ...USAGE_HEADER],
        [[`${fmt(g.delivered)} / ${fmt(g.expected)}`, pctl(g.latency), `p50 ${ms(g.ack.p50)}, p99 ${ms(g.ack.p99)}`, ...usageCells(g.usage)]],
      ),
      '',
    );
    if (Object.keys(g.errors).length) out.push(`Errors: ${JSON.stringify(g.errors)}`, '');
    if (g.profiled) {
      out.push(
        `#### Profiled group round`,
        '',
        `Another ${g.profiled.db.messages} messages with the profiler on: ${fmt(g.profiled.delivered)}/${fmt(g.profiled.expected)} deliveries, ${pctl(g.profiled.latency)}.`,
        '',
        dbTable(g.profiled.db),
        '',
        profileTables(g.profiled.profile, g.profiled.profileFile),
        '',
      );
    }
  }

  if (r.shutdown) {
    out.push('### Graceful shutdown', '', `\`close()\` of the node with ${fmt(r.shutdown.sockets)} sockets open (every socket told "going away" and closed, queued writes flushed) took ${r.shutdown.seconds.toFixed(1)} s.`, '');
  }

  if (r.alt) {
    out.push(`### Alternative: FLUSH_WINDOW_MS=${r.alt.flushWindowMs}`, '');
    out.push(
      `The node restarted with \`FLUSH_WINDOW_MS=${r.alt.flushWindowMs}\` (a flush starts as soon as nothing is being flushed; batches still form while a flush is in flight) and only the pairs' ${fmt(r.alt.sockets)} sockets reconnected.`,
      '',
      dmTable(r.alt),
      '',
    );
  }

  out.push(FINDINGS_HEADER, '', ...findings(r, v), '');
  return out.join('\n');
}

const FINDINGS_HEADER = '### Findings';

/** What the figures say, in words; the numbers come from this run. */
function findings(r: Results, v: Verdicts): string[] {
  const lines: string[] = [];
  const best = bestStep(r.dm);
  const lat = latencyStep(r.dm, latencyRateOf(r));
  if (best && v.throughput === false) {
    const u = best.usage;
    lines.push(
      `- **Direct-message throughput is short of ${fmt(DM_RATE_TARGET)}/s:** at best ${fmt(best.acksPerS)} acks/s. In that step the node used ${pct(u.nodeCpu)} of a core (event loop busy ${pct(u.nodeLoop)}), MariaDB ${pct(u.mariadbCpu)}, the generators ${pct(u.generatorsCpu)}; the machine was ${pct(u.machineBusy)} busy. See the profile and round-trip tables above for where the node's time goes.`,
    );
  }
  if (lat && v.latency === false) {
    lines.push(`- **p99 latency at ${fmt(lat.offered)}/s misses ${DM_P99_TARGET_MS} ms:** ${ms(lat.delivery.p99)} (acks/s ${fmt(lat.acksPerS)}).`);
  }
  if (r.group && v.group === false) {
    lines.push(`- **Group delivery misses:** ${fmt(r.group.delivered)}/${fmt(r.group.expected)} delivered, p99 ${ms(r.group.latency.p99)}.`);
  }
  lines.push(...STATIC_FINDINGS);
  return lines;
}

/** Observations about the code that bound or cost scale, checked while building this benchmark. */
const STATIC_FINDINGS: string[] = [];

export function writeBenchmarks(file: string, r: Results): void {
  const section = renderSection(r);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nFigures measured by the benchmarks in `bench/` (see bench/README.md). Each section is rewritten by its benchmark.\n';
  const start = current.indexOf('\n## Domain node');
  let next: string;
  if (start < 0) next = `${current.trimEnd()}\n\n${section}`;
  else {
    const after = current.indexOf('\n## ', start + 1);
    next = `${current.slice(0, start).trimEnd()}\n\n${section}${after < 0 ? '' : `\n${current.slice(after + 1)}`}`;
  }
  writeFileSync(file, `${next.trimEnd()}\n`);
}
