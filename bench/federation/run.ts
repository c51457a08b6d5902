/**
 * `npm run bench:federation`: two domain nodes and the federation proxy on this machine, measured against
 * issue 4's benchmark — ≥ 5,000 cross-domain messages/s sustained, p99 ≤ 100 ms at 1,000/s, and the time
 * for a destination to drain a backlog of 100,000 events after an outage. Prints figures and writes the
 * "Federation" section of BENCHMARKS.md; it never fails on a missed target. Traffic stays on 127.0.0.0/8.
 *
 *   npm run bench:federation                 the full run (about 6–10 minutes)
 *   npm run bench:federation -- --smoke      a small run (40 pairs, a 3,000-event backlog); under a minute; writes nothing
 *   options: --no-write, --write, --out=<file> (write the section there instead)
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Histogram } from '../shared/histogram.ts';
import { describeMachine, findMariadbPid, loadAverage, machineCpuTicks, processCpuSeconds } from '../shared/machine.ts';
import type { NodeStats, QueryCounts } from '../shared/node-process.ts';
import { summariseProfile } from '../shared/profile-summary.ts';
import { percentiles } from '../shared/percentiles.ts';
import {
  addBenchPeople,
  benchNodeEnv,
  createDatabase,
  freePort,
  spawnNode,
  tail,
  type BenchDatabase,
  type NodeChild,
} from '../shared/setup.ts';
import { mintAccessTokens, usernameOf } from '../shared/tokens.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { summariseLogs } from '../shared/log-summary.ts';
import {
  alive,
  gitOutput,
  installCleanups,
  recordFailure,
  signalChild,
  sleep,
  stopChild,
  timestampLog,
  type Child,
} from '../shared/orchestrator.ts';
import type {
  BlastResult,
  DeliveryResult,
  Direction,
  FedPair,
  FedUser,
  GeneratorStats,
  OpenResult,
  RunResult,
  ConnectResult,
} from './generator.ts';
import { FEDERATION_ACTIVITIES, renderConsoleSummary, writeFederationSection } from './report.ts';
import {
  usageBetween,
  type DepthSample,
  type Drain,
  type Profiled,
  type ProcessProfile,
  type Results,
  type Snapshot,
  type Step,
} from './results.ts';
import {
  federate,
  openReader,
  registerProxy,
  spawnFederationGenerator,
  spawnProxy,
  startFederationGateway,
  type ProxyChild,
  type Reader,
} from './setup.ts';
import type { ProxyStats } from './proxy-process.ts';

const ENG = 'eng.bench.test';
const ARTS = 'arts.bench.test';
const PROXY_NAME = 'bench-proxy';
const DEPTH_LINE = new RegExp(
  `^atrium_federation_outbox_depth\\{[^}]*destination="${ARTS.replace(/\./g, '\\.')}"[^}]*\\} ([0-9.e+]+)$`,
  'm',
);
const REGISTRY_TTL_SECONDS = 5;
const ROOT = join(import.meta.dirname, '..', '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const HARD_LIMIT_MS = 15 * 60_000;
const THROUGHPUT_TARGET = 5_000;

type Rate = { rate: number; seconds: number };
type Scale = {
  name: 'full' | 'smoke';
  pairs: number;
  generators: number;
  latency: Rate;
  /** A latency run well below the pipeline's capacity, for the latency of the path itself. */
  lowRate: Rate;
  sweep: Rate[];
  reply: Rate;
  /** A profiled run when the throughput target is missed (always in the smoke run, to exercise it), at the first rate that did not keep up or else this one. */
  profileStep: Rate;
  backlog: number;
  blastInFlight: number;
  catchUpLimitMs: number;
  drainLimitMs: number;
  profileSeconds: number;
};

const SCALES: Record<'full' | 'smoke', Scale> = {
  full: {
    name: 'full',
    pairs: 200,
    generators: 2,
    latency: { rate: 1_000, seconds: 10 },
    lowRate: { rate: 200, seconds: 6 },
    sweep: [
      { rate: 2_000, seconds: 6 },
      { rate: 5_000, seconds: 6 },
      { rate: 8_000, seconds: 6 },
    ],
    reply: { rate: 500, seconds: 8 },
    profileStep: { rate: 5_000, seconds: 3 },
    backlog: 100_000,
    blastInFlight: 1_000,
    catchUpLimitMs: 120_000,
    drainLimitMs: 420_000,
    profileSeconds: 15,
  },
  smoke: {
    name: 'smoke',
    pairs: 40,
    generators: 2,
    latency: { rate: 200, seconds: 4 },
    lowRate: { rate: 50, seconds: 3 },
    sweep: [{ rate: 500, seconds: 4 }],
    reply: { rate: 100, seconds: 3 },
    profileStep: { rate: 500, seconds: 3 },
    backlog: 3_000,
    blastInFlight: 300,
    catchUpLimitMs: 20_000,
    drainLimitMs: 60_000,
    profileSeconds: 3,
  },
};

const argv = process.argv.slice(2);
const scale = SCALES[argv.includes('--smoke') ? 'smoke' : 'full'];
const write = argv.includes('--write') || (scale.name === 'full' && !argv.includes('--no-write'));
const outFile = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);

const started = performance.now();
const log = timestampLog(started);
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '–');
const pct = (n: number | null) => (n === null || !Number.isFinite(n) ? '–' : `${Math.round(n)}%`);

// Everything the run started, stopped in reverse order on the way out, whatever the way out is.
const cleanups = installCleanups(HARD_LIMIT_MS, 'stopping children, dropping the databases…');

async function main(): Promise<void> {
  const machine = await describeMachine();
  const results: Results = {
    scale: scale.name,
    startedAt: new Date(),
    seconds: 0,
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'im', 'core', 'migrations']).split('\n').filter(Boolean),
    machine,
    mariadb: '',
    loadAtStart: loadAverage(),
    loadAtEnd: '',
    domains: { eng: ENG, arts: ARTS },
    pairs: scale.pairs,
    generators: { count: scale.generators, addresses: [] },
    nodeEnv: {},
    proxyEnv: {},
    setup: null,
    latency: null,
    lowRate: null,
    sweep: [],
    skipped: [],
    reply: null,
    profiledStep: null,
    drain: null,
    logs: [],
    dropped: {},
    errors: [],
  };
  log(
    `Atrium federation benchmark (${scale.name}): ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${results.loadAtStart}`,
  );

  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-fed-'));
  cleanups.push({ name: 'temp folder', run: () => rmSync(dataDir, { recursive: true, force: true }) });
  mkdirSync(RESULTS_DIR, { recursive: true });

  // Databases: one per node, dropped afterwards.
  const dbs: Record<'eng' | 'arts', BenchDatabase> = { eng: await createDatabase(), arts: await createDatabase() };
  for (const db of Object.values(dbs)) cleanups.push({ name: `database ${db.name}`, run: () => db.drop() });
  results.mariadb = dbs.eng.version;
  log(`MariaDB ${dbs.eng.version}: databases ${dbs.eng.name} (eng), ${dbs.arts.name} (arts)`);
  const mariadbPid = findMariadbPid();

  const ports = { eng: await freePort(), arts: await freePort(), proxy: await freePort() };
  const urls = { eng: `http://127.0.0.1:${ports.eng}`, arts: `http://127.0.0.1:${ports.arts}` };
  const bench = await startFederationGateway(dataDir, [
    { name: ENG, url: urls.eng, unit: 'bench' },
    { name: ARTS, url: urls.arts, unit: 'bench-arts' },
  ]);
  cleanups.push({ name: 'gateway', run: () => bench.gateway.close() });
  log(`gateway ${bench.gateway.issuer} (SQLite); ${ENG} → ${urls.eng}, ${ARTS} → ${urls.arts}`);

  // The proxy first (the nodes send through it), then its key registered at the gateway.
  const proxyEnv: Record<string, string> = {
    PROXY_PORT: String(ports.proxy),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME,
    GATEWAY_ISSUER: bench.gateway.issuer,
    ATRIUM_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    REGISTRY_TTL_SECONDS: String(REGISTRY_TTL_SECONDS),
  };
  results.proxyEnv = Object.fromEntries(
    Object.entries(proxyEnv).filter(([k]) => !['ATRIUM_DATA_DIR', 'GATEWAY_ISSUER', 'PROXY_PORT'].includes(k)),
  );
  const proxyLog = join(dataDir, 'proxy.log');
  const proxy: ProxyChild = await spawnProxy(proxyEnv, proxyLog);
  cleanups.push({ name: 'proxy process', run: () => stopChild(proxy, 'shutdown', 12_000) });
  await registerProxy(bench, PROXY_NAME, proxy.publicKey);
  log(`proxy process ${proxy.pid} at ${proxy.url} (key ${proxy.publicKey.kid} registered at the gateway)`);

  const nodeEnv = (side: 'eng' | 'arts'): Record<string, string> => ({
    ...benchNodeEnv({
      domain: side === 'eng' ? ENG : ARTS,
      port: ports[side],
      issuer: bench.gateway.issuer,
      databaseUrl: dbs[side].url,
      dataDir,
    }),
    FRAMES_PER_SECOND: '100000',
    // A bench user sends far faster than a person may: the per-person message allowance would throttle them too.
    MESSAGES_PER_SECOND: '100000',
    MESSAGE_BURST: '100000',
    FEDERATION_PROXY_URL: proxy.url,
    REGISTRY_TTL_SECONDS: String(REGISTRY_TTL_SECONDS),
  });
  results.nodeEnv = Object.fromEntries(
    Object.entries(nodeEnv('eng')).filter(
      ([k]) =>
        ![
          'DATABASE_URL',
          'ATRIUM_DATA_DIR',
          'GATEWAY_ISSUER',
          'NODE_DOMAIN',
          'NODE_PORT',
          'NODE_PUBLIC_URL',
          'FEDERATION_PROXY_URL',
        ].includes(k),
    ),
  );
  const logs = { eng: join(dataDir, 'node-eng.log'), arts: join(dataDir, 'node-arts.log') };
  let eng: NodeChild;
  let arts: NodeChild;
  await federate(bench, nodeEnv('eng'), nodeEnv('arts'));
  const federatedAt = performance.now();
  log(`gateway: both domains' keys pinned before their nodes start, the pair ${ENG} ↔ ${ARTS} allowed`);
  [eng, arts] = await Promise.all([spawnNode(nodeEnv('eng'), logs.eng), spawnNode(nodeEnv('arts'), logs.arts)]);
  cleanups.push({ name: 'eng node process', run: () => stopChild(eng, 'shutdown', 25_000) });
  cleanups.push({ name: 'arts node process', run: () => stopChild(arts, 'shutdown', 25_000) });
  let artsUp = true;
  log(
    `node processes: eng ${eng.pid} at ${eng.localUrl}, arts ${arts.pid} at ${arts.localUrl} (each on its own MariaDB database, through the proxy)`,
  );

  const readers: Record<'eng' | 'arts', Reader> = {
    eng: await openReader(dbs.eng.url),
    arts: await openReader(dbs.arts.url),
  };
  cleanups.push({ name: 'database readers', run: () => Promise.all([readers.eng.close(), readers.arts.close()]) });

  // People: eng's u00001…, arts' after them, so each eng address sorts lower and eng is every pair's home.
  const P = scale.pairs;
  const pairs: FedPair[] = Array.from({ length: P }, (_, k) => ({
    eng: k + 1,
    arts: P + k + 1,
    artsAddress: `${usernameOf(P + k + 1)}@${ARTS}`,
  }));
  await addBenchPeople(
    bench,
    'bench',
    pairs.map((p) => p.eng),
  );
  await addBenchPeople(
    bench,
    'bench-arts',
    pairs.map((p) => p.arts),
  );
  const tokenStart = performance.now();
  const claims = (side: 'eng' | 'arts') => ({
    issuer: bench.gateway.issuer,
    audience: urls[side],
    clientId: bench.clientId,
    domain: side === 'eng' ? ENG : ARTS,
  });
  const engTokens = await mintAccessTokens(
    bench.signingKey,
    claims('eng'),
    pairs.map((p) => p.eng),
  );
  const artsTokens = await mintAccessTokens(
    bench.signingKey,
    claims('arts'),
    pairs.map((p) => p.arts),
  );
  log(
    `minted ${engTokens.size + artsTokens.size} access tokens in ${((performance.now() - tokenStart) / 1000).toFixed(1)} s`,
  );

  const generators = Array.from({ length: scale.generators }, (_, i) =>
    spawnFederationGenerator(i, `127.0.0.${i + 2}`),
  );
  for (const g of generators)
    cleanups.push({ name: `generator ${g.localAddress}`, run: () => stopChild(g, 'close', 5_000) });
  results.generators.addresses = generators.map((g) => g.localAddress);
  const pairsOf = (g: number) => pairs.filter((_, k) => k % generators.length === g);
  await Promise.all(
    generators.map((g) =>
      g.call('init', {
        engUrl: `${eng.localUrl.replace('http', 'ws')}/ws`,
        artsUrl: `${arts.localUrl.replace('http', 'ws')}/ws`,
        localAddress: g.localAddress,
      }),
    ),
  );
  const connected = await Promise.all(
    generators.map((g, i) => {
      const users: FedUser[] = pairsOf(i).flatMap((p) => [
        { index: p.eng, token: engTokens.get(p.eng)!, side: 'eng' as const },
        { index: p.arts, token: artsTokens.get(p.arts)!, side: 'arts' as const },
      ]);
      return g.call<ConnectResult>('connect', { users, concurrency: 20 });
    }),
  );
  const failures = connected.flatMap((c) => Object.entries(c.failures));
  log(
    `sockets: ${connected.reduce((s, c) => s + c.connected, 0)} connected${failures.length ? `, failures ${JSON.stringify(failures)}` : ''}`,
  );

  const snapshot = async (): Promise<Snapshot> => {
    const [e, a, p, g] = await Promise.all([
      alive(eng) ? eng.call<NodeStats>('stats').catch(() => null) : null,
      artsUp && alive(arts) ? arts.call<NodeStats>('stats').catch(() => null) : null,
      proxy.call<ProxyStats>('stats').catch(() => null),
      Promise.all(generators.map((x) => x.call<GeneratorStats>('stats'))),
    ]);
    const cpu = process.cpuUsage();
    return {
      at: performance.now(),
      eng: e,
      arts: a,
      proxy: p,
      generators: g,
      orchestratorCpuUs: cpu.user + cpu.system,
      mariadbCpuS: mariadbPid ? processCpuSeconds(mariadbPid) : null,
      machine: machineCpuTicks(),
      load: loadAverage(),
    };
  };

  /** The eng node's outbox towards arts, from its /metrics (`atrium_federation_outbox_depth`). */
  const engDepth = async (): Promise<number> => {
    const text = await (await fetch(`${eng.localUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    // The gauge carries the registry's default label (unit) besides the destination; no line means 0.
    const line = DEPTH_LINE.exec(text);
    return line ? Number(line[1]) : 0;
  };
  const sampleDepth = (t0: number) => {
    const samples: DepthSample[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const depth = await engDepth().catch(() => Number.NaN);
        samples.push([Math.round((performance.now() - t0) / 100) / 10, depth]);
        for (let i = 0; i < 10 && !stopped; i++) await sleep(100);
      }
    })();
    return { samples, stop: async () => ((stopped = true), await loop) };
  };
  /** Waits (bounded) until eng has nothing left for arts, so a step starts without an earlier backlog. */
  const settle = async (what: string, limitMs = scale.catchUpLimitMs) => {
    const t0 = performance.now();
    let depth = await engDepth();
    while (depth > 0 && performance.now() - t0 < limitMs) {
      await sleep(500);
      depth = await engDepth();
    }
    if (depth > 0)
      log(`  (${what}: eng's outbox still holds ${fmt(depth)} events for arts after ${fmt(limitMs / 1000)} s)`);
    else if (performance.now() - t0 > 1_000)
      log(`  (${what}: waited ${((performance.now() - t0) / 1000).toFixed(1)} s for eng's outbox to empty)`);
    return depth;
  };

  const profileTargets = (): { name: ProcessProfile['process']; child: Child; tag: string }[] => [
    { name: 'eng node', child: eng, tag: 'eng' },
    ...(artsUp ? [{ name: 'arts node' as const, child: arts as Child, tag: 'arts' }] : []),
    { name: 'proxy', child: proxy, tag: 'proxy' },
  ];
  const startProfiles = async () => {
    const targets = profileTargets();
    await Promise.all(targets.map((t) => t.child.call('profile.start')));
    await Promise.all([eng.call('instrument.start'), artsUp ? arts.call('instrument.start') : null]);
    return targets;
  };
  const stopProfiles = async (
    targets: ReturnType<typeof profileTargets>,
    what: string,
    name: string,
  ): Promise<Pick<Profiled, 'profiles' | 'db'>> => {
    const profiles = await Promise.all(
      targets.map(async (t): Promise<ProcessProfile> => {
        const file = join(dataDir, `federation-${name}-${t.tag}.cpuprofile`);
        try {
          await t.child.call('profile.stop', { file });
          copyFileSync(file, join(RESULTS_DIR, `federation-${name}-${t.tag}.cpuprofile`));
          return {
            process: t.name,
            summary: summariseProfile(file, ROOT, 12, FEDERATION_ACTIVITIES),
            file: `bench/results/federation-${name}-${t.tag}.cpuprofile`,
          };
        } catch (error) {
          log(`  profile of the ${t.name} (${what}) failed: ${(error as Error).message}`);
          return { process: t.name, summary: null, file: null };
        }
      }),
    );
    const db: Profiled['db'] = [];
    for (const t of targets) {
      if (t.name === 'proxy') continue;
      const counts = await t.child.call('instrument.stop').catch(() => null);
      if (counts) db.push({ process: t.name, counts: counts as QueryCounts });
    }
    return { profiles, db };
  };

  // Setup: each pair's direct conversation, opened by the eng person's first message `to` the arts person.
  try {
    await sleep(Math.max(0, REGISTRY_TTL_SECONDS * 1000 + 500 - (performance.now() - federatedAt)));
    const t0 = performance.now();
    let opens = await Promise.all(
      generators.map((g, i) => g.call<OpenResult>('pairs.open', { list: pairsOf(i), concurrency: 10 }, 180_000)),
    );
    if (opens.some((o) => o.opened < pairsOf(0).length / 2)) {
      // A registry cached before the policy was set refuses for up to its TTL: once more after it.
      log(
        `  first openings refused (${JSON.stringify(opens.map((o) => o.failures))}); again in ${REGISTRY_TTL_SECONDS} s`,
      );
      await sleep(REGISTRY_TTL_SECONDS * 1000 + 500);
      opens = await Promise.all(
        generators.map((g, i) => g.call<OpenResult>('pairs.open', { list: pairsOf(i), concurrency: 10 }, 180_000)),
      );
    }
    const opened = opens.reduce((s, o) => s + o.opened, 0);
    const openedAt = performance.now();
    let delivered = 0;
    while (performance.now() - openedAt < 60_000) {
      delivered = (
        await Promise.all(generators.map((g) => g.call<{ deliveries: number }>('peek', { phase: 'setup' })))
      ).reduce((s, p) => s + p.deliveries, 0);
      if (delivered >= opened) break;
      await sleep(100);
    }
    await Promise.all(generators.map((g) => g.call<DeliveryResult>('finish', { phase: 'setup' })));
    const failuresByCode: Record<string, number> = {};
    for (const o of opens)
      for (const [k, v] of Object.entries(o.failures)) failuresByCode[k] = (failuresByCode[k] ?? 0) + v;
    results.setup = {
      opened,
      seconds: (openedAt - t0) / 1000,
      deliveredSeconds: (performance.now() - t0) / 1000,
      failures: failuresByCode,
    };
    log(
      `opened ${opened} direct conversations in ${results.setup.seconds.toFixed(1)} s; ${delivered} first messages at arts after ${results.setup.deliveredSeconds.toFixed(1)} s`,
    );
    if (opened === 0) throw new Error(`no conversation could be opened: ${JSON.stringify(failuresByCode)}`);
  } catch (error) {
    fail(results, 'setup', error);
    throw error;
  }

  let stepNo = 0;
  const step = async (
    label: string,
    direction: Direction,
    rate: Rate,
    options: { profile?: string } = {},
  ): Promise<{ step: Step; profiled: Profiled | null }> => {
    const phase = `s${++stepNo}`;
    const perGen = rate.rate / generators.length;
    const a = await snapshot();
    const t0 = performance.now();
    const targets = options.profile ? await startProfiles() : null;
    const artsRowsAtStart = targets ? await readers.arts.count('SELECT COUNT(*) AS n FROM messages') : 0;
    const sampler = sampleDepth(t0);
    const windowEnd = sleep(rate.seconds * 1000).then(async () => {
      const snap = await snapshot();
      const depth = await engDepth().catch(() => null);
      const profiled = targets ? await stopProfiles(targets, label, options.profile!) : null;
      const artsStored = targets
        ? (await readers.arts.count('SELECT COUNT(*) AS n FROM messages')) - artsRowsAtStart
        : 0;
      return { snap, depth, profiled, artsStored };
    });
    const runs = await Promise.all(
      generators.map((g) =>
        g.call<RunResult>(
          'run',
          {
            phase,
            direction,
            rate: perGen,
            durationMs: rate.seconds * 1000,
            warmupMs: 1_000,
            maxInFlight: Math.max(500, Math.ceil(perGen)),
            ackWaitMs: 60_000,
          },
          (rate.seconds + 120) * 1000,
        ),
      ),
    );
    const end = await windowEnd;
    const sum = (f: (r: RunResult) => number) => runs.reduce((s, r) => s + f(r), 0);
    const acked = sum((r) => r.acks);
    const catchUpStart = performance.now();
    let delivered = 0;
    while (performance.now() - catchUpStart < scale.catchUpLimitMs) {
      delivered = (await Promise.all(generators.map((g) => g.call<{ deliveries: number }>('peek', { phase })))).reduce(
        (s, p) => s + p.deliveries,
        0,
      );
      if (delivered >= acked) break;
      await sleep(200);
    }
    await sampler.stop();
    const fins = await Promise.all(generators.map((g) => g.call<DeliveryResult>('finish', { phase })));
    delivered = fins.reduce((s, f) => s + f.deliveries, 0);
    const windowEndAt = Math.max(...runs.map((r) => r.window[1]));
    const lastAt = Math.max(...fins.map((f) => f.lastAt));
    const errors: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const windowSeconds = runs[0]!.windowSeconds;
    const depths = sampler.samples.map(([, d]) => d).filter(Number.isFinite);
    const result: Step = {
      label,
      direction,
      offered: rate.rate,
      seconds: rate.seconds,
      sentPerS: sum((r) => r.sent) / rate.seconds,
      acksPerS: sum((r) => r.acksInWindow) / windowSeconds,
      deliveriesPerS: fins.reduce((s, f) => s + f.inWindow, 0) / windowSeconds,
      skipped: sum((r) => r.skipped),
      acked,
      delivered,
      duplicates: fins.reduce((s, f) => s + f.duplicates, 0),
      unacked: sum((r) => r.unacked),
      errors,
      ack: percentiles(runs.map((r) => r.ackLatency)),
      delivery: percentiles(Histogram.from(fins.map((f) => f.latency))),
      depth: { samples: sampler.samples, atWindowEnd: end.depth, max: Math.max(0, end.depth ?? 0, ...depths) },
      catchUpSeconds: delivered >= acked ? Math.max(0, (lastAt - windowEndAt) / 1000) : null,
      keptUp: false,
      usage: usageBetween(a, end.snap),
    };
    // Replies are received at eng, the home; eng's outbox then holds arts' own copies, reported on their own.
    result.keptUp =
      result.acksPerS >= 0.95 * rate.rate &&
      result.deliveriesPerS >= 0.95 * rate.rate &&
      (direction === 'arts→eng' || (end.depth ?? 0) <= rate.rate);
    log(
      `  ${label}: offered ${fmt(rate.rate)}/s → sent ${fmt(result.sentPerS)}/s, acks ${fmt(result.acksPerS)}/s, received at ${direction === 'eng→arts' ? 'arts' : 'eng'} ${fmt(result.deliveriesPerS)}/s; ` +
        `delivery p50 ${ms(result.delivery.p50)} p99 ${ms(result.delivery.p99)} max ${ms(result.delivery.max)}; ack p99 ${ms(result.ack.p99)}; ` +
        `outbox at window end ${fmt(end.depth ?? Number.NaN)} (max ${fmt(result.depth.max)}); ` +
        `${result.catchUpSeconds === null ? `**${fmt(acked - delivered)} not received after ${fmt(scale.catchUpLimitMs / 1000)} s**` : `all received ${result.catchUpSeconds.toFixed(1)} s after the window`}; ` +
        `${result.keptUp ? 'kept up' : 'did NOT keep up'}; CPU eng ${pct(result.usage.engCpu)}, arts ${pct(result.usage.artsCpu)}, proxy ${pct(result.usage.proxyCpu)}, MariaDB ${pct(result.usage.mariadbCpu)}, bench ${pct(result.usage.benchCpu)}, others ${pct(result.usage.othersCpu)}; load ${result.usage.load}` +
        (result.skipped ? `; ${fmt(result.skipped)} not sent (in-flight cap)` : '') +
        (result.duplicates ? `; ${fmt(result.duplicates)} DUPLICATES` : '') +
        (Object.keys(errors).length ? `; errors ${JSON.stringify(errors)}` : ''),
    );
    const profiled: Profiled | null = end.profiled
      ? {
          what: `the run at ${fmt(rate.rate)}/s offered`,
          seconds: rate.seconds,
          events: sum((r) => r.sent),
          eventsBy: { 'eng node': sum((r) => r.sent), 'arts node': end.artsStored },
          usage: result.usage,
          ...end.profiled,
        }
      : null;
    return { step: result, profiled };
  };

  // 1. Latency at 1,000/s -------------------------------------------------------------------------
  try {
    await settle('before the latency run');
    log(
      `latency: ${fmt(scale.latency.rate)} msgs/s from eng people to arts people for ${scale.latency.seconds} s over ${fmt(results.setup!.opened)} pairs`,
    );
    results.latency = (await step(`${fmt(scale.latency.rate)}/s`, 'eng→arts', scale.latency)).step;
    await settle(`before ${fmt(scale.lowRate.rate)}/s`);
    log(`latency well below capacity: ${fmt(scale.lowRate.rate)} msgs/s for ${scale.lowRate.seconds} s`);
    results.lowRate = (await step(`${fmt(scale.lowRate.rate)}/s`, 'eng→arts', scale.lowRate)).step;
  } catch (error) {
    fail(results, 'latency', error);
  }

  // 2. Throughput steps ------------------------------------------------------------------------------
  try {
    log(`throughput: offered ${scale.sweep.map((s) => fmt(s.rate)).join(', ')}/s, eng → arts`);
    let saturated = false;
    for (const rate of scale.sweep) {
      if (saturated && rate.rate > THROUGHPUT_TARGET) {
        log(`  skipping ${fmt(rate.rate)}/s: a lower rate already did not keep up`);
        results.skipped.push(rate.rate);
        continue;
      }
      await settle(`before ${fmt(rate.rate)}/s`);
      const { step: s } = await step(`${fmt(rate.rate)}/s`, 'eng→arts', rate);
      results.sweep.push(s);
      if (!s.keptUp) saturated = true;
    }
  } catch (error) {
    fail(results, 'throughput', error);
  }

  // 3. Replies: arts people write into the eng-homed conversations (a submit to the home per message) ---
  try {
    await settle('before the replies');
    log(
      `replies: ${fmt(scale.reply.rate)} msgs/s from arts people (remote submits to eng, the home) for ${scale.reply.seconds} s`,
    );
    results.reply = (await step(`replies ${fmt(scale.reply.rate)}/s`, 'arts→eng', scale.reply)).step;
  } catch (error) {
    fail(results, 'replies', error);
  }

  // Where the time goes when the throughput target is missed (always in the smoke run, to exercise it).
  const best = Math.max(0, ...results.sweep.filter((s) => s.keptUp).map((s) => s.deliveriesPerS));
  if (scale.name === 'smoke' || best < THROUGHPUT_TARGET * 0.99) {
    try {
      // At the first rate that did not keep up, like bench:node: past it, queues only grow.
      const rate = {
        rate: results.sweep.find((s) => !s.keptUp)?.offered ?? scale.profileStep.rate,
        seconds: scale.profileStep.seconds,
      };
      await settle('before the profiled run');
      log(
        `profiled run: ${fmt(rate.rate)}/s for ${rate.seconds} s with the CPU profiler on in both nodes and the proxy`,
      );
      results.profiledStep = (
        await step(`${fmt(rate.rate)}/s profiled`, 'eng→arts', rate, { profile: 'step' })
      ).profiled;
    } catch (error) {
      fail(results, 'profiled run', error);
    }
  }

  // 4. A backlog of events after an outage of arts -----------------------------------------------------
  try {
    results.drain = await backlog();
  } catch (error) {
    fail(results, 'backlog drain', error);
  }

  async function backlog(): Promise<Drain> {
    await settle('before the outage', 180_000);
    const artsRowsBefore = await readers.arts.count('SELECT COUNT(*) AS n FROM messages');
    await Promise.all(generators.map((g) => g.call('disconnect', { side: 'arts' })));
    log(
      `backlog: stopping the arts node (SIGTERM to pid ${arts.pid}), then ${fmt(scale.backlog)} messages from eng people as fast as eng takes them`,
    );
    const killedAt = Date.now();
    artsUp = false;
    await signalChild(arts, 'SIGTERM');
    const shares = generators.map(
      (_, i) => Math.floor(scale.backlog / generators.length) + (i < scale.backlog % generators.length ? 1 : 0),
    );
    const blasts = await Promise.all(
      generators.map((g, i) =>
        g.call<BlastResult>(
          'blast',
          { phase: 'backlog', total: shares[i], maxInFlight: scale.blastInFlight, timeoutMs: 240_000 },
          300_000,
        ),
      ),
    );
    const ids = blasts.flatMap((b) => b.ids);
    const blastSeconds = Math.max(...blasts.map((b) => b.ms)) / 1000;
    const blastErrors: Record<string, number> = {};
    for (const b of blasts) for (const [k, v] of Object.entries(b.errors)) blastErrors[k] = (blastErrors[k] ?? 0) + v;
    const blast = {
      seconds: blastSeconds,
      acks: ids.length,
      acksPerS: ids.length / blastSeconds,
      errors: blastErrors,
      unacked: blasts.reduce((s, b) => s + b.unacked, 0),
      ack: percentiles(blasts.map((b) => b.ackLatency)),
      uniqueIds: new Set(ids).size,
    };
    log(
      `  eng acknowledged ${fmt(blast.acks)} in ${blastSeconds.toFixed(1)} s (${fmt(blast.acksPerS)}/s, ack p50 ${ms(blast.ack.p50)} p99 ${ms(blast.ack.p99)})` +
        (Object.keys(blastErrors).length ? `; errors ${JSON.stringify(blastErrors)}` : ''),
    );
    const depthBefore = await engDepth();
    const peerRow = await readers.eng
      .one<{ attempts: number; next_attempt_at: Date | null; last_error: string | null }>(
        'SELECT attempts, next_attempt_at, last_error FROM outbox_peers WHERE destination = ?',
        [ARTS],
      )
      .catch(() => null);
    log(
      `  eng's outbox holds ${fmt(depthBefore)} events for arts; delivery attempts so far ${peerRow?.attempts ?? '?'}, next in ${peerRow?.next_attempt_at ? ((peerRow.next_attempt_at.getTime() - Date.now()) / 1000).toFixed(1) : '?'} s` +
        (peerRow?.last_error ? ` (last error: ${peerRow.last_error.slice(0, 120)})` : ''),
    );

    const restartAt = Date.now();
    arts = await spawnNode(nodeEnv('arts'), logs.arts);
    artsUp = true;
    const readyAt = Date.now();
    log(
      `  arts restarted (pid ${arts.pid}, same database and port) in ${((readyAt - restartAt) / 1000).toFixed(1)} s; the outage lasted ${((readyAt - killedAt) / 1000).toFixed(1)} s`,
    );
    const u0 = await snapshot();
    const lowest = async () =>
      Number(
        (await readers.eng.one<{ lo: number | null }>('SELECT MIN(id) AS lo FROM outbox WHERE destination = ?', [ARTS]))
          .lo ?? 0,
      );
    const lowBefore = await lowest();
    const depthSamples: DepthSample[] = [[0, depthBefore]];
    let nextSample = readyAt + 1_000;
    let firstProgress: number | null = null;
    let drainedAt: number | null = null;
    // The profiler runs over the first seconds of the drain itself (not the wait for eng's retry).
    const profiling: {
      current: { targets: ReturnType<typeof profileTargets>; at: number; depth: number; snap: Snapshot } | null;
      done: Profiled | null;
    } = { current: null, done: null };
    const stopProfiling = async (depthNow: number) => {
      const p = profiling.current;
      if (!p) return;
      profiling.current = null;
      const usage = usageBetween(p.snap, await snapshot());
      profiling.done = {
        what: 'the backlog drain',
        seconds: (Date.now() - p.at) / 1000,
        events: p.depth - depthNow,
        eventsBy: {},
        usage,
        ...(await stopProfiles(p.targets, 'the backlog drain', 'drain')),
      };
    };
    while (Date.now() - readyAt < scale.drainLimitMs) {
      const lo = await lowest();
      if (firstProgress === null && (lo === 0 || lo > lowBefore)) {
        firstProgress = Date.now();
        log(
          `  eng's first transaction reached arts ${((firstProgress - readyAt) / 1000).toFixed(1)} s after arts was back; profiling both nodes and the proxy for ${scale.profileSeconds} s`,
        );
        if (lo !== 0) {
          const snap = await snapshot();
          const targets = await startProfiles();
          profiling.current = { targets, at: Date.now(), depth: await engDepth(), snap };
        }
      }
      if (Date.now() >= nextSample || lo === 0) {
        const depth = lo === 0 ? 0 : await engDepth();
        depthSamples.push([Math.round((Date.now() - readyAt) / 100) / 10, depth]);
        nextSample += 1_000;
        if (profiling.current && (Date.now() - profiling.current.at >= scale.profileSeconds * 1000 || depth === 0))
          await stopProfiling(depth);
      }
      if (lo === 0) {
        drainedAt = Date.now();
        break;
      }
      await sleep(200);
    }
    if (profiling.current) await stopProfiling(await engDepth().catch(() => 0));
    const u1 = await snapshot();
    const inbox = await readers.arts.one<{ first: Date | null; last: Date | null; n: number }>(
      'SELECT MIN(received_at) AS first, MAX(received_at) AS last, COUNT(*) AS n FROM inbox WHERE origin = ? AND received_at >= ?',
      // Anything after the kill was applied by the restarted process.
      [ENG, new Date(killedAt)],
    );
    const firstApplied = inbox.first?.getTime() ?? firstProgress;
    let storedOfAcked = 0;
    for (let i = 0; i < ids.length; i += 1_000)
      storedOfAcked += await readers.arts.count('SELECT COUNT(*) AS n FROM messages WHERE id IN (?)', [
        ids.slice(i, i + 1_000),
      ]);
    const artsRowsAdded = (await readers.arts.count('SELECT COUNT(*) AS n FROM messages')) - artsRowsBefore;
    const engDepthAfter = await engDepth();
    const drain: Drain = {
      total: scale.backlog,
      blastInFlight: scale.blastInFlight,
      blast,
      depthBefore,
      peer: peerRow
        ? {
            attempts: peerRow.attempts,
            nextAttemptInSeconds: peerRow.next_attempt_at ? (peerRow.next_attempt_at.getTime() - readyAt) / 1000 : null,
            lastError: peerRow.last_error,
          }
        : null,
      outageSeconds: (readyAt - killedAt) / 1000,
      restartSeconds: (readyAt - restartAt) / 1000,
      waitSeconds: firstApplied ? (firstApplied - readyAt) / 1000 : null,
      drainSeconds: drainedAt && firstApplied ? (drainedAt - firstApplied) / 1000 : null,
      totalSeconds: drainedAt ? (drainedAt - readyAt) / 1000 : null,
      ratePerS: drainedAt && firstApplied ? depthBefore / Math.max(0.001, (drainedAt - firstApplied) / 1000) : null,
      transactions: Number(inbox.n),
      depthSamples,
      storedOfAcked,
      artsRowsAdded,
      engDepthAfter,
      usage: usageBetween(u0, u1),
      profiled: profiling.done,
    };
    log(
      drainedAt
        ? `  drained: all of eng's ${fmt(depthBefore)} events delivered ${drain.totalSeconds!.toFixed(1)} s after arts was back (waiting for eng's retry ${drain.waitSeconds?.toFixed(1)} s, then ${drain.drainSeconds?.toFixed(1)} s at ${fmt(drain.ratePerS ?? Number.NaN)} events/s, ${fmt(drain.transactions)} transactions)`
        : `  NOT drained within ${fmt(scale.drainLimitMs / 1000)} s: eng's outbox still holds ${fmt(engDepthAfter)} events`,
    );
    log(
      `  arts stored ${fmt(storedOfAcked)} of the ${fmt(ids.length)} acknowledged message ids (${fmt(blast.uniqueIds)} distinct); ${fmt(artsRowsAdded)} rows added to arts' messages; eng's outbox now ${fmt(engDepthAfter)}`,
    );
    return drain;
  }

  results.loadAtEnd = loadAverage();
  for (const g of generators) {
    const stats = await g.call<GeneratorStats>('stats').catch(() => null);
    for (const [code, n] of Object.entries(stats?.dropped ?? {}))
      results.dropped[code] = (results.dropped[code] ?? 0) + n;
  }
  results.logs = [
    { process: 'eng node', ...summariseLogs([logs.eng]) },
    { process: 'arts node', ...summariseLogs([logs.arts]) },
    { process: 'proxy', ...summariseLogs([proxyLog]) },
  ];
  for (const [name, file] of [
    ['federation-node-eng.log', logs.eng],
    ['federation-node-arts.log', logs.arts],
    ['federation-proxy.log', proxyLog],
  ] as const) {
    try {
      copyFileSync(file, join(RESULTS_DIR, name));
    } catch {
      // no log written
    }
  }
  for (const l of results.logs)
    if (l.errors + l.warnings > 0)
      log(`${l.process} logged ${l.errors} errors and ${l.warnings} warnings (bench/results/federation-*.log)`);
  results.seconds = (performance.now() - started) / 1000;
  writeFileSync(join(RESULTS_DIR, `federation-${scale.name}.json`), JSON.stringify(results, null, 2));
  console.log(`\n${renderConsoleSummary(results)}`);
  if (cleanups.aborted) return;
  if (write || outFile) {
    writeFederationSection(outFile ?? join(ROOT, 'BENCHMARKS.md'), results);
    log(`wrote the "Federation" section of ${outFile ?? 'BENCHMARKS.md'}`);
  } else {
    log('BENCHMARKS.md left as it is (smoke run or --no-write)');
  }
  if (results.errors.length)
    console.error(
      `\nSome phases failed:\n${results.errors.join('\n')}\neng log:\n${tail(logs.eng)}\narts log:\n${tail(logs.arts)}\nproxy log:\n${tail(proxyLog)}`,
    );
}

const fail = (results: { errors: string[] }, phase: string, error: unknown) =>
  recordFailure(results, phase, error, log);
const git = (args: string[]) => gitOutput(ROOT, args);

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanups.run();
    log('done; children stopped, databases dropped');
    process.exit(process.exitCode ?? 0);
  });
