/**
 * `npm run bench:node`: one domain node process on MariaDB, measured against the issue's targets
 * (15,000 idle sockets in little memory, 20,000 direct messages/s with ack-after-commit and a p99 of
 * 50 ms at half that rate, a 10,000-member group within 300 ms whose joiners are not sent its member
 * list). Prints figures and writes the
 * "Domain node" section of BENCHMARKS.md; it never fails on a missed target. Traffic stays on 127.0.0.0/8.
 *
 *   npm run bench:node                  the full run (about 2–4 minutes on a quiet machine)
 *   npm run bench:node -- --smoke       a small run (500 sockets, 1,000 msg/s, 200 members); writes nothing
 *   options: --no-write, --write, --out=<file> (write the section there instead), --alt-flush=<ms>|none
 *   npm run bench:node -- --dm-only --rates=10000:15,20000 [--profile]   only the direct-message steps (rate[:seconds])
 *     (all sockets connected, no heap snapshots, group or shutdown phases); for trying a change; writes nothing
 *   --env=NAME=value (repeatable): an extra setting for the node process, e.g. --env=FLUSH_LANES=1
 *   npm run bench:node -- --closed-loop-only [--closed-seconds=3] [--closed-rounds=4] [--closed-shapes=50x10,2x2]   only the closed loop (chat users waiting
 *     for their acks; eager committer vs. fixed window), on the pairs' sockets alone; writes nothing
 *   npm run bench:node -- --group-only [--group-size=10000] [--group-messages=10]   only the group phase
 *     (its members' sockets connected, no receipts round); for trying a change; writes nothing
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { usernameOf, mintAccessTokens } from '../shared/tokens.ts';
import { Histogram } from '../shared/histogram.ts';
import { describeMachine, findMariadbPid, loadAverage, machineCpuTicks, processCpuSeconds } from '../shared/machine.ts';
import { summariseProfile } from '../shared/profile-summary.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { summariseLogs } from '../shared/log-summary.ts';
import {
  gitOutput,
  installCleanups,
  recordFailure,
  sleep,
  stopChild,
  timestampLog,
  type Child,
} from '../shared/orchestrator.ts';
import { heapPerSocket } from './heap-summary.ts';
import { ackFiguresBetween, describeNodeAck, readAckBuckets } from './node-metrics.ts';
import { renderConsoleSummary, writeBenchmarks } from './report.ts';
import { percentiles } from '../shared/percentiles.ts';
import {
  usageBetween,
  type DmStep,
  type DmSweep,
  type GroupResult,
  type IdleResult,
  type IndexerWait,
  type Results,
  type Snapshot,
} from './results.ts';
import {
  addBenchPeople,
  benchNodeEnv,
  createDatabase,
  freePort,
  pinNodeBeforeStart,
  spawnNode,
  startBenchGateway,
  tail,
  type BenchDatabase,
  type BenchGateway,
  type GeneratorChild,
  type NodeChild,
} from '../shared/setup.ts';
import { createGroupInDatabase, sizeBufferPool, spawnGenerator, spawnRelay } from './setup.ts';
import { runClosedLoop } from './closed-loop.ts';
import { SATURATED_STEPS_TO_STOP, sweepRule } from './sweep-rule.ts';
import type { ConnectResult, DmPair, DmRunResult, GeneratorStats } from './generator.ts';
import { sumTraffic, type TrafficResult } from './traffic.ts';
import type { HistogramData } from '../shared/histogram.ts';
import type { NodeStats, QueryCounts } from '../shared/node-process.ts';

const DOMAIN = 'bench.campus.test';
const ROOT = join(import.meta.dirname, '..', '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** The longest a phase waits for the search indexer to catch up with the phases before it (see waitForIndexer). */
const INDEXER_WAIT_S = 300;
// Twice INDEXER_WAIT_S more than the run's phases need at most.
const HARD_LIMIT_MS = 25 * 60_000;

/** `after`: a step run once the node has been overloaded, reported by itself (not a target's measurement). */
type Step = { rate: number; seconds: number; after?: string };
type Scale = {
  name: 'full' | 'smoke';
  sockets: number;
  generators: number;
  connectConcurrency: number;
  heapSample: number;
  pairs: number;
  steps: Step[];
  latencyRate: number;
  /** How many more times the latency target's rate is run after the sweep. */
  latencyRepeats: number;
  profileRate: number;
  groupSize: number;
  groupMessages: number;
  groupRate: number;
  altFlushMs: number | null;
  altSteps: Step[];
  /** The sweep against the stand-in servers (bench/node/relay-process.ts), to show what the machine can carry. */
  ceilingSteps: Step[];
  /** Length of each closed-loop round (bench/node/closed-loop.ts), and rounds per shape and flush mode. */
  closedSeconds: number;
  closedRounds: number;
};

const SCALES: Record<'full' | 'smoke', Scale> = {
  full: {
    name: 'full',
    sockets: 15_000,
    generators: 3,
    connectConcurrency: 100,
    heapSample: 1_000,
    pairs: 2_000,
    steps: [
      { rate: 500, seconds: 8 },
      { rate: 1_000, seconds: 8 },
      { rate: 2_500, seconds: 8 },
      { rate: 5_000, seconds: 8 },
      { rate: 10_000, seconds: 15 },
      { rate: 15_000, seconds: 8 },
      { rate: 20_000, seconds: 8 },
      { rate: 25_000, seconds: 8 },
      { rate: 10_000, seconds: 15, after: 'the overload steps' },
    ],
    latencyRate: 10_000,
    latencyRepeats: 2,
    profileRate: 20_000,
    groupSize: 10_000,
    groupMessages: 20,
    groupRate: 4,
    altFlushMs: 0,
    altSteps: [
      { rate: 10_000, seconds: 10 },
      { rate: 20_000, seconds: 8 },
    ],
    ceilingSteps: [
      { rate: 5_000, seconds: 8 },
      { rate: 10_000, seconds: 15 },
      { rate: 15_000, seconds: 8 },
      { rate: 20_000, seconds: 8 },
      { rate: 25_000, seconds: 8 },
      { rate: 30_000, seconds: 8 },
    ],
    closedSeconds: 3,
    closedRounds: 4,
  },
  smoke: {
    name: 'smoke',
    sockets: 500,
    generators: 2,
    connectConcurrency: 50,
    heapSample: 200,
    pairs: 100,
    steps: [
      { rate: 500, seconds: 5 },
      { rate: 1_000, seconds: 6 },
    ],
    latencyRate: 1_000,
    latencyRepeats: 0,
    profileRate: 1_000,
    groupSize: 200,
    groupMessages: 10,
    groupRate: 4,
    altFlushMs: null,
    altSteps: [{ rate: 1_000, seconds: 5 }],
    ceilingSteps: [{ rate: 1_000, seconds: 5 }],
    closedSeconds: 3,
    closedRounds: 1,
  },
};

const argv = process.argv.slice(2);
const scale = { ...SCALES[argv.includes('--smoke') ? 'smoke' : 'full'] };
const altArg = argv.find((a) => a.startsWith('--alt-flush='))?.split('=')[1];
if (altArg) scale.altFlushMs = altArg === 'none' ? null : Number(altArg);
// --dm-only: the direct-message sweep alone, at the given rates, for measuring a change quickly.
const dmOnly = argv.includes('--dm-only');
const ratesArg = argv.find((a) => a.startsWith('--rates='))?.slice('--rates='.length);
if (dmOnly) {
  scale.altFlushMs = null;
  const profileArg = argv.find((a) => a.startsWith('--profile'));
  scale.profileRate = profileArg ? Number(profileArg.split('=')[1] ?? 10_000) : 0;
  if (ratesArg)
    scale.steps = ratesArg
      .split(',')
      .map((r) => ({ rate: Number(r.split(':')[0]), seconds: Number(r.split(':')[1] ?? 8) }));
}
// --closed-loop-only: the closed loop alone (both flush modes), for measuring a change quickly.
const closedOnly = argv.includes('--closed-loop-only');
const closedSecondsArg = argv.find((a) => a.startsWith('--closed-seconds='))?.split('=')[1];
if (closedSecondsArg) scale.closedSeconds = Math.max(2, Number(closedSecondsArg));
const closedRoundsArg = argv.find((a) => a.startsWith('--closed-rounds='))?.split('=')[1];
if (closedRoundsArg) scale.closedRounds = Math.max(1, Math.floor(Number(closedRoundsArg)));
// --closed-shapes=50x10,2x2: only these shapes (pairs × in flight), in this order.
const closedShapes = argv
  .find((a) => a.startsWith('--closed-shapes='))
  ?.split('=')[1]
  ?.split(',')
  .map((shape) => {
    const [pairs, inFlight] = shape.split('x').map(Number);
    if (!pairs || !inFlight) throw new Error(`--closed-shapes: expected pairs x in flight, like 50x10, not ${shape}`);
    return { pairs, inFlight };
  });
if (closedOnly) scale.altFlushMs = null;
// --closed-profile: a CPU profile of the node during the first shape's eager step, summarised on the terminal.
const closedProfile = argv.includes('--closed-profile');
// --relay=memory|durable|indexed (with --dm-only): the sweep against the stand-in server of the machine's ceiling instead of the node.
const relayArg = argv.find((a) => a.startsWith('--relay='))?.slice('--relay='.length);
const relayOnly =
  dmOnly && (relayArg === 'memory' || relayArg === 'durable' || relayArg === 'indexed') ? relayArg : null;
// --env=NAME=value (repeatable): extra settings for the node process, to compare configurations.
const extraEnv = Object.fromEntries(
  argv.filter((a) => a.startsWith('--env=')).map((a) => a.slice('--env='.length).split(/=(.*)/s).slice(0, 2)),
);
// --group-only: the group phase alone (its members' sockets only), at --group-size and --group-messages.
const groupOnly = argv.includes('--group-only');
const numberArg = (name: string) => {
  const value = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  return value === undefined ? undefined : Number(value);
};
scale.groupSize = numberArg('group-size') ?? scale.groupSize;
scale.groupMessages = numberArg('group-messages') ?? scale.groupMessages;
if (groupOnly) {
  scale.altFlushMs = null;
  scale.ceilingSteps = [];
  scale.sockets = scale.groupSize;
}
const write =
  !dmOnly &&
  !closedOnly &&
  !groupOnly &&
  (argv.includes('--write') || (scale.name === 'full' && !argv.includes('--no-write')));
const outFile = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);

const started = performance.now();
const log = timestampLog(started);
const address = (index: number) => `${usernameOf(index)}@${DOMAIN}`;

// Everything the run started, stopped in reverse order on the way out, whatever the way out is.
const cleanups = installCleanups(HARD_LIMIT_MS, 'stopping children, dropping the database…');
const stopper = (child: Child, command: string, graceMs: number) => () => stopChild(child, command, graceMs);

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
    bufferPool: null,
    generators: {
      count: scale.generators,
      addresses: [],
      socketsEach: Math.ceil(scale.sockets / scale.generators),
      connectConcurrency: scale.connectConcurrency,
    },
    nodeEnv: {},
    idle: null,
    dm: null,
    group: null,
    alt: null,
    closedLoop: null,
    ceiling: { memory: null, durable: null, indexed: null },
    shutdown: null,
    nodeLog: { errors: 0, warnings: 0, top: [] },
    dropped: {},
    errors: [],
  };
  log(
    `Atrium domain node benchmark (${scale.name}): ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${loadAverage()}`,
  );
  if (scale.sockets / scale.generators > 7_000)
    throw new Error('at most 7,000 sockets per generator (20,000 open files per process)');

  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-'));
  cleanups.push({ name: 'temp folder', run: () => rmSync(dataDir, { recursive: true, force: true }) });
  mkdirSync(RESULTS_DIR, { recursive: true });

  const db: BenchDatabase = await createDatabase();
  cleanups.push({ name: `database ${db.name}`, run: () => db.drop() });
  results.mariadb = db.version;
  const pool = await sizeBufferPool();
  cleanups.push({ name: 'InnoDB buffer pool size', run: () => pool.restore() });
  results.bufferPool = { own: pool.own, used: pool.used };
  if (pool.used !== pool.own)
    log(
      `MariaDB's InnoDB buffer pool set to ${mib(pool.used)} for the run (its own setting, ${mib(pool.own)}, is restored afterwards)`,
    );
  log(`MariaDB ${db.version}: database ${db.name}`);

  const nodePort = await freePort();
  const nodeUrl = `http://127.0.0.1:${nodePort}`;
  const bench: BenchGateway = await startBenchGateway(dataDir, DOMAIN, nodeUrl);
  cleanups.push({ name: 'gateway', run: () => bench.gateway.close() });
  log(
    `gateway ${bench.gateway.issuer} (SQLite); domain ${DOMAIN} → ${nodeUrl}; client ${bench.clientId}; signing key ${bench.signingKey.kid}`,
  );

  const users = Array.from({ length: scale.sockets }, (_, i) => i + 1);
  await addBenchPeople(bench, 'bench', users);
  const tokenStart = performance.now();
  const tokens = await mintAccessTokens(
    bench.signingKey,
    { issuer: bench.gateway.issuer, audience: nodeUrl, clientId: bench.clientId, domain: DOMAIN },
    users,
  );
  log(`minted ${tokens.size} access tokens in ${((performance.now() - tokenStart) / 1000).toFixed(1)} s`);

  const nodeEnv = (flushWindowMs: number | null): Record<string, string> => ({
    ...benchNodeEnv({ domain: DOMAIN, port: nodePort, issuer: bench.gateway.issuer, databaseUrl: db.url, dataDir }),
    FRAMES_PER_SECOND: '100000',
    // A bench user sends far faster than a person may: the per-person message allowance would throttle them too.
    MESSAGES_PER_SECOND: '100000',
    MESSAGE_BURST: '100000',
    ...(flushWindowMs === null ? {} : { FLUSH_WINDOW_MS: String(flushWindowMs) }),
    ...extraEnv,
  });
  results.nodeEnv = Object.fromEntries(
    Object.entries(nodeEnv(null)).filter(([k]) => !['DATABASE_URL', 'ATRIUM_DATA_DIR', 'GATEWAY_ISSUER'].includes(k)),
  );

  // The node's keys pinned before it starts, as the demo does: the gateway answers its signed questions
  // (ended sessions, is this app still enabled?) from the first one.
  if (!relayOnly) await pinNodeBeforeStart(bench, nodeEnv(null));
  let node: NodeChild = relayOnly
    ? await spawnRelay(relayOnly, nodeEnv(null), join(dataDir, `relay-${relayOnly}.log`))
    : await spawnNode(nodeEnv(null), join(dataDir, 'node.log'));
  const stopNode = (n: NodeChild) => stopper(n, 'shutdown', 25_000);
  cleanups.push({ name: 'node process', run: () => stopNode(node)() });
  log(`node process ${node.pid} listening at ${node.localUrl}`);

  const generators: GeneratorChild[] = [];
  for (let g = 0; g < scale.generators; g++) {
    const generator = spawnGenerator(g, `127.0.0.${g + 2}`);
    generators.push(generator);
    cleanups.push({ name: `generator ${g}`, run: stopper(generator, 'close', 5_000) });
    await generator.call('init', { url: `ws://127.0.0.1:${nodePort}/ws`, localAddress: generator.localAddress });
  }
  results.generators.addresses = generators.map((g) => g.localAddress);
  const genOf = (user: number) => generators[(user - 1) % generators.length]!;
  const usersOf = (g: number, list: number[]) => list.filter((u) => (u - 1) % generators.length === g);

  const mariadbPid = findMariadbPid();
  const snapshot = async (collect = false): Promise<Snapshot> => {
    const [nodeStats, genStats] = await Promise.all([
      node.call<NodeStats>('stats', { collect }),
      Promise.all(generators.map((g) => g.call<GeneratorStats>('stats'))),
    ]);
    const own = process.cpuUsage();
    return {
      at: performance.now(),
      node: nodeStats,
      generators: genStats,
      orchestratorCpuUs: own.user + own.system,
      mariadbCpuS: mariadbPid ? processCpuSeconds(mariadbPid) : null,
      machine: machineCpuTicks(),
      load: loadAverage(),
    };
  };

  const connect = async (
    list: number[],
    what: string,
  ): Promise<{ connected: number; failures: Record<string, number>; seconds: number }> => {
    const t0 = performance.now();
    const progress = setInterval(() => {
      void node.call<NodeStats>('stats').then(
        (s) => log(`  ${what}: ${s.sockets.toLocaleString('en')} sockets authenticated`),
        () => undefined,
      );
    }, 3_000);
    try {
      const replies = await Promise.all(
        generators.map((g, i) =>
          g.call<ConnectResult>(
            'connect',
            {
              users: usersOf(i, list).map((index) => ({ index, token: tokens.get(index)! })),
              concurrency: scale.connectConcurrency,
            },
            300_000,
          ),
        ),
      );
      const failures: Record<string, number> = {};
      for (const r of replies) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
      return {
        connected: replies.reduce((s, r) => s + r.connected, 0),
        failures,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      clearInterval(progress);
    }
  };

  // 1. Idle sockets ----------------------------------------------------------------------------
  if (dmOnly || groupOnly) {
    const c = await connect(users, 'connect');
    log(`${dmOnly ? 'dm-only' : 'group-only'}: ${fmt(c.connected)} sockets connected in ${c.seconds.toFixed(1)} s`);
  } else if (!closedOnly)
    try {
      // What a socket is made of: heap snapshots around a sample of sockets, after a warm-up so that
      // code compiled on first use is not counted. Snapshots bloat the process's RSS for good, so this
      // runs on a node process of its own, replaced by a fresh one for the RSS measurement.
      const warm = users.slice(0, 100);
      const sample = users.slice(100, 100 + scale.heapSample);
      log(`idle sockets: heap snapshots around ${fmt(sample.length)} sockets (after ${warm.length} warm-up sockets)`);
      await connect(warm, 'warm-up');
      const heapBefore = join(dataDir, 'heap-before.heapsnapshot');
      const heapAfter = join(dataDir, 'heap-after.heapsnapshot');
      await node.call('heap.snapshot', { file: heapBefore });
      const sampled = await connect(sample, 'heap sample');
      await node.call('heap.snapshot', { file: heapAfter });
      const heap = heapPerSocket(heapBefore, heapAfter, sampled.connected);
      rmSync(heapBefore);
      rmSync(heapAfter);
      log(
        `  ${Math.round(heap.total).toLocaleString('en')} B of JS heap per socket (shallow sizes, ${sampled.connected} sockets)`,
      );
      await Promise.all(generators.map((g, i) => g.call('disconnect', { users: usersOf(i, [...warm, ...sample]) })));
      await stopNode(node)();
      node = await spawnNode(nodeEnv(null), join(dataDir, 'node.log'));
      log(`  fresh node process ${node.pid} for the memory measurement`);

      await sleep(1_000);
      const before = await node.call<NodeStats>('stats', { collect: true });
      const metricsBefore = await node.call<{ rss: number; heapUsed: number }>('metrics');
      log(
        `idle sockets: node before: RSS ${mib(before.rss)}, heap ${mib(before.heapUsed)}; connecting ${scale.sockets.toLocaleString('en')} sockets from ${generators.length} generators`,
      );
      const c = await connect(users, 'connect');
      await sleep(2_000);
      const after = await node.call<NodeStats>('stats', { collect: true });
      const metricsAfter = await node.call<{ rss: number; heapUsed: number }>('metrics');
      const n = Math.max(1, after.sockets - before.sockets);
      const idle: IdleResult = {
        target: scale.sockets,
        connected: after.sockets,
        failures: c.failures,
        connectSeconds: c.seconds,
        before,
        after,
        metricsBefore,
        metricsAfter,
        rssPerSocket: (after.rss - before.rss) / n,
        heapPerSocket: (after.heapUsed - before.heapUsed) / n,
        externalPerSocket: (after.external - before.external) / n,
        socketsPerGiB: 2 ** 30 / Math.max(1, (after.rss - before.rss) / n),
        heapSample: { sockets: sampled.connected, ...heap },
        load: loadAverage(),
      };
      results.idle = idle;
      log(
        `idle sockets: ${after.sockets.toLocaleString('en')} held (${c.connected} connected in ${c.seconds.toFixed(1)} s${Object.keys(c.failures).length ? `, failures ${JSON.stringify(c.failures)}` : ''}); ` +
          `RSS ${mib(after.rss)} → ${Math.round(idle.rssPerSocket).toLocaleString('en')} B/socket, heap ${Math.round(idle.heapPerSocket).toLocaleString('en')} B/socket; ` +
          `≈ ${Math.round(idle.socketsPerGiB).toLocaleString('en')} sockets/GiB`,
      );
    } catch (error) {
      fail(results, 'idle sockets', error);
    }

  // 2. Direct messages -------------------------------------------------------------------------
  const groupMembers = users.slice(0, scale.groupSize);
  const pairsOf = (g: number): DmPair[] => {
    const own = usersOf(
      g,
      users.filter((u) => u > scale.groupSize),
    ).slice(0, 2 * Math.floor(scale.pairs / generators.length));
    const list: DmPair[] = [];
    for (let i = 0; i + 1 < own.length; i += 2)
      list.push({ sender: own[i]!, receiver: own[i + 1]!, receiverAddress: address(own[i + 1]!) });
    return list;
  };
  let stepNo = 0;

  const dmStep = async (label: string, step: Step, options: { profile?: string } = {}) => {
    const phase = `dm${++stepNo}`;
    const perGen = step.rate / generators.length;
    const a = await snapshot();
    const acksBefore = await readAckBuckets(node.localUrl);
    if (options.profile) {
      await node.call('instrument.start');
      await node.call('profile.start');
    }
    const window = sleep(step.seconds * 1000).then(async () => {
      const b = await snapshot();
      if (options.profile) await node.call('profile.stop', { file: options.profile });
      return b;
    });
    const runs = await Promise.all(
      generators.map((g) =>
        g.call<DmRunResult>(
          'dm.run',
          {
            phase,
            rate: perGen,
            durationMs: step.seconds * 1000,
            warmupMs: 1_000,
            maxInFlight: Math.max(500, Math.ceil(perGen)),
            drainMs: 60_000,
          },
          (step.seconds + 120) * 1000,
        ),
      ),
    );
    const b = await window;
    const memory = await node.call<{ rss: number; heapUsed: number }>('metrics');
    const nodeAck = ackFiguresBetween(acksBefore, await readAckBuckets(node.localUrl));
    const db = options.profile ? await node.call<QueryCounts>('instrument.stop') : null;
    const sum = (f: (r: DmRunResult) => number) => runs.reduce((s, r) => s + f(r), 0);
    const errors: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const windowSeconds = runs[0]!.windowSeconds;
    const result: DmStep = {
      label,
      offered: step.rate,
      seconds: step.seconds,
      sentPerS: sum((r) => r.sent) / step.seconds,
      acksPerS: sum((r) => r.acksInWindow) / windowSeconds,
      deliveriesPerS: sum((r) => r.deliveriesInWindow) / windowSeconds,
      skipped: sum((r) => r.skipped),
      unacked: sum((r) => r.unacked),
      undelivered: sum((r) => r.acks) - sum((r) => r.deliveries),
      errors,
      ack: percentiles(runs.map((r) => r.ackLatency)),
      delivery: percentiles(runs.map((r) => r.deliveryLatency)),
      usage: usageBetween(a, b),
      drainMs: Math.max(...runs.map((r) => r.drainMs)),
      nodeAck,
    };
    log(
      `  ${label}: offered ${fmt(step.rate)}/s → sent ${fmt(result.sentPerS)}/s, acks ${fmt(result.acksPerS)}/s, deliveries ${fmt(result.deliveriesPerS)}/s; ` +
        `delivery p50 ${ms(result.delivery.p50)} p99 ${ms(result.delivery.p99)} max ${ms(result.delivery.max)}; ack p99 ${ms(result.ack.p99)}; node-side ack ${describeNodeAck(nodeAck)}; ` +
        `node CPU ${pct(result.usage.nodeCpu)}, MariaDB ${pct(result.usage.mariadbCpu)}, generators ${pct(result.usage.generatorsCpu)}; loop delay max ${ms(result.usage.loopDelayMaxMs)}, GC pause max ${ms(result.usage.gcMaxMs)} (${result.usage.gcMajor} full); node RSS ${mib(memory.rss)}, heap ${mib(memory.heapUsed)}; load ${result.usage.load}` +
        (result.skipped ? `; ${fmt(result.skipped)} not sent (client in-flight cap)` : '') +
        (Object.keys(errors).length ? `; errors ${JSON.stringify(errors)}` : ''),
    );
    return { result, db: db ? { messages: sum((r) => r.acks), counts: db } : null };
  };

  /** `repeats`: how many more times the latency target's rate runs right after its step. */
  const dmSweep = async (
    flushWindowMs: number,
    steps: Step[],
    profileRate: number | null,
    tag: string,
    repeats = 0,
  ): Promise<DmSweep> => {
    const lists = generators.map((_, g) => pairsOf(g));
    const pairCount = lists.reduce((s, l) => s + l.length, 0);
    log(
      `direct messages (FLUSH_WINDOW_MS=${flushWindowMs}): opening ${fmt(pairCount)} direct conversations (a first message sent \`to\` the peer)`,
    );
    const t0 = performance.now();
    const setups = await Promise.all(
      generators.map((g, i) =>
        g.call<{ opened: number; failures: Record<string, number> }>(
          'dm.setup',
          { list: lists[i], concurrency: 32 },
          300_000,
        ),
      ),
    );
    const failures: Record<string, number> = {};
    for (const s of setups) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    const sweep: DmSweep = {
      flushWindowMs,
      pairs: pairCount,
      sockets: (await node.call<NodeStats>('stats')).sockets,
      setup: { opened: setups.reduce((s, r) => s + r.opened, 0), seconds: (performance.now() - t0) / 1000, failures },
      steps: [],
      repeats: [],
      notOffered: [],
      profiled: null,
    };
    log(
      `  opened ${sweep.setup.opened} in ${sweep.setup.seconds.toFixed(1)} s${Object.keys(failures).length ? ` (failures ${JSON.stringify(failures)})` : ''}`,
    );
    const rule = sweepRule();
    for (const step of steps) {
      if (!rule.offers(step.rate === scale.latencyRate || dmOnly)) {
        log(`  skipping ${fmt(step.rate)}/s: ${SATURATED_STEPS_TO_STOP} lower rates in a row saturated the server`);
        sweep.notOffered.push(step.rate);
        continue;
      }
      const { result } = await dmStep(
        step.after ? `${fmt(step.rate)}/s after ${step.after}` : `${fmt(step.rate)}/s`,
        step,
      );
      sweep.steps.push(result);
      rule.ran(result, Boolean(step.after));
      await sleep(1_000);
      // The latency target's rate again, at once (steady state, before any overload): every run counts.
      if (step.rate === scale.latencyRate && !step.after && !dmOnly) {
        for (let i = 0; i < repeats; i++) {
          const again = await dmStep(`${fmt(step.rate)}/s again (${i + 2} of ${repeats + 1})`, step);
          sweep.repeats.push(again.result);
          await sleep(1_000);
        }
      }
    }
    if (profileRate) {
      // Profiled where the node first saturated: past that, batches and queues only grow, and the profile
      // shows overload (bursts, convoys) more than the cost of a message.
      const rate =
        dmOnly && scale.profileRate
          ? scale.profileRate
          : (sweep.steps.find((x) => x.acksPerS < 0.9 * x.offered)?.offered ?? profileRate);
      const file = join(dataDir, `node-dm-${tag}.cpuprofile`);
      const { result, db } = await dmStep(
        `${fmt(rate)}/s profiled`,
        { rate, seconds: dmOnly ? 15 : 8 },
        { profile: file },
      );
      const kept = join(RESULTS_DIR, `node-dm-${tag}.cpuprofile`);
      copyFileSync(file, kept);
      sweep.profiled = {
        ...result,
        db: db!,
        profile: summariseProfile(file, ROOT),
        profileFile: `bench/results/node-dm-${tag}.cpuprofile`,
      };
    }
    return sweep;
  };

  if (!closedOnly && !groupOnly)
    try {
      results.dm = await dmSweep(2, scale.steps, scale.profileRate, 'default', scale.latencyRepeats);
    } catch (error) {
      fail(results, 'direct messages', error);
    }

  // 3. A group of online members ---------------------------------------------------------------
  if (!dmOnly && !closedOnly)
    try {
      results.group = await groupPhase();
    } catch (error) {
      fail(results, 'group', error);
    }

  /**
   * Before a phase whose latency is measured: until the node's search indexer has moved what the earlier
   * phases queued into the index (the direct-message sweep leaves up to a million rows, which the indexer
   * writes into MariaDB's FULLTEXT index for minutes), or the time limit. That load is the earlier phases'
   * doing, not the measured phase's.
   */
  async function waitForIndexer(before: string): Promise<IndexerWait | null> {
    const t0 = performance.now();
    const queued = async () => (await node.call<{ queued: number }>('search.queued', {}, 60_000)).queued;
    try {
      const queuedBefore = await queued();
      let queuedAfter = queuedBefore;
      while (queuedAfter > 0 && performance.now() - t0 < INDEXER_WAIT_S * 1000) {
        await sleep(2_000);
        queuedAfter = await queued();
      }
      const seconds = (performance.now() - t0) / 1000;
      if (queuedBefore > 0)
        log(
          `${before}: waited ${seconds.toFixed(1)} s for the search indexer (${fmt(queuedBefore)} rows queued, ${fmt(queuedAfter)} still queued${queuedAfter > 0 ? `, limit ${INDEXER_WAIT_S} s` : ''})`,
        );
      return { seconds, queuedBefore, queuedAfter, limitSeconds: INDEXER_WAIT_S };
    } catch (error) {
      // The phase runs anyway; its section then says nothing about the indexer.
      log(`${before}: could not read the search index's queue (${String(error)}); not waiting for the indexer`);
      return null;
    }
  }

  async function groupPhase(): Promise<GroupResult> {
    const indexerWait = await waitForIndexer('group');
    const owner = groupMembers[0]!;
    const online = (
      await Promise.all(generators.map((g, i) => g.call<number>('count', { users: usersOf(i, groupMembers) })))
    ).reduce((a, b) => a + b, 0);
    log(`group: ${fmt(groupMembers.length)} members (${fmt(online)} online); creating it with group.create`);
    let conversationId: string | null = null;
    let createdBy: GroupResult['createdBy'] = 'frames';
    let createNote = '';
    let joining: GroupResult['joining'] = null;
    let memberPages: GroupResult['memberPages'] = null;
    const chunk = 1_000;
    // How long each change of the growing group takes the node to answer (it tells the people concerned first).
    const answeredMs: number[] = [];
    // Everything the sockets receive while the group is made: what a joiner is sent (member pages).
    await Promise.all(generators.map((g) => g.call('traffic.start')));
    let asked = performance.now();
    const first = await genOf(owner).call<Record<string, unknown>>('request', {
      user: owner,
      frame: { type: 'group.create', title: 'Bench group', members: groupMembers.slice(1, chunk).map(address) },
    });
    answeredMs.push(performance.now() - asked);
    if (first.type === 'conversation') {
      conversationId = String((first.conversation as { id: string }).id);
      for (let i = chunk; i < groupMembers.length && conversationId; i += chunk) {
        asked = performance.now();
        const reply = await genOf(owner).call<Record<string, unknown>>('request', {
          user: owner,
          frame: { type: 'group.invite', conversationId, members: groupMembers.slice(i, i + chunk).map(address) },
        });
        answeredMs.push(performance.now() - asked);
        if (reply.type === 'error') {
          createNote = `group.create worked but group.invite answered ${String(reply.code)} (${String(reply.message)}); the group was made in the database instead`;
          conversationId = null;
        }
      }
      if (conversationId) {
        createNote =
          groupMembers.length > chunk
            ? `created over the protocol: \`group.create\` with the first ${fmt(chunk)} members, then \`group.invite\` in chunks of ${fmt(chunk)} (one frame naming all ${fmt(groupMembers.length)} addresses would exceed MAX_FRAME_BYTES, 64 KiB); answered after ${answeredMs.map((ms) => `${fmt(Math.round(ms))} ms`).join(', ')} (members who stay learn of each invite from its entry; a joiner is shown the group with its member count, listing only them)`
            : `created over the protocol with one \`group.create\` frame, answered after ${fmt(Math.round(answeredMs[0]!))} ms`;
      }
      const drained = await settle('group-settle', owner, conversationId ?? '', online - 1);
      createNote += `; every member had all it was sent ${fmt(drained)} ms after the last answer (one more message, sent then, had reached them all)`;
      joining = await joiningTraffic(owner);
    } else {
      createNote = `group.create answered ${String(first.code)} (${String(first.message)}), so the group was written to the node's database with the node's models (conversation kind 'group', ${fmt(groupMembers.length)} active members); the node had never loaded it, so its member cache could not hold a stale list`;
    }
    if (!conversationId) {
      createdBy = 'database';
      conversationId = await createGroupInDatabase(db.url, DOMAIN, groupMembers.map(address));
    }
    log(`  ${createNote}`);
    if (createdBy === 'frames') {
      const paged = await readMemberPages(groupMembers[1]!, conversationId);
      memberPages = { pages: paged.pages, members: paged.members, bytes: paged.bytes, ms: paged.ms };
      if (joining) {
        joining.wholeListBytes = paged.listBytes;
        const j = joining.joiners;
        log(
          `  joiners received ${fmt(j.bytes / Math.max(1, j.users))} B in ${(j.frames / Math.max(1, j.users)).toFixed(1)} frames each on average (at most ${fmt(j.maxBytes)} B), of which views (\`conversation\`) ${fmt((j.byType.conversation?.bytes ?? 0) / Math.max(1, j.users))} B; a view listing all ${fmt(groupMembers.length)} members would be ${fmt(paged.listBytes)} B`,
        );
      }
      log(
        `  the whole member list in pages of 1,000: ${memberPages.pages} pages, ${fmt(memberPages.members)} members, ${fmt(memberPages.bytes)} B in ${fmt(memberPages.ms)} ms`,
      );
    }

    /** Until every member has one more message: whatever the making of the group sent them is then through. */
    async function settle(phase: string, sender: number, id: string, expected: number): Promise<number> {
      const t0 = performance.now();
      await Promise.all(generators.map((g) => g.call('record.start', { phase })));
      await genOf(sender).call('send', { user: sender, conversationId: id, phase });
      while (performance.now() - t0 < 120_000) {
        const peek = await Promise.all(generators.map((g) => g.call<{ deliveries: number }>('record.peek', { phase })));
        if (peek.reduce((sum, p) => sum + p.deliveries, 0) >= expected) break;
        await sleep(100);
      }
      await Promise.all(generators.map((g) => g.call('record.stop', { phase })));
      return performance.now() - t0;
    }

    /** What the members' and the owner's sockets received since `traffic.start`. */
    async function joiningTraffic(ownerUser: number): Promise<NonNullable<GroupResult['joining']>> {
      const joiners = groupMembers.filter((u) => u !== ownerUser);
      const stops = await Promise.all(
        generators.map((g, i) =>
          g.call<Record<'joiners' | 'owner', TrafficResult>>('traffic.stop', {
            groups: { joiners: usersOf(i, joiners), owner: usersOf(i, [ownerUser]) },
          }),
        ),
      );
      return {
        joiners: sumTraffic(stops.map((s) => s.joiners)),
        owner: sumTraffic(stops.map((s) => s.owner)),
        wholeListBytes: 0,
      };
    }

    /** One member reads the whole member list in pages of 1,000, as a client does when it needs it. */
    async function readMemberPages(user: number, id: string) {
      const t0 = performance.now();
      let after: string | null = null;
      let pages = 0;
      let bytes = 0;
      const all: unknown[] = [];
      do {
        const page: { reply: Record<string, unknown>; bytes: number } = await genOf(user).call('measured', {
          user,
          frame: { type: 'members', conversationId: id, limit: 1000, ...(after ? { after } : {}) },
        });
        const { reply } = page;
        if (reply.type !== 'members.result') throw new Error(`members answered ${JSON.stringify(reply).slice(0, 200)}`);
        pages += 1;
        bytes += page.bytes;
        all.push(...(reply.members as unknown[]));
        after = (reply.next as string | null) ?? null;
      } while (after && pages < 1_000);
      return {
        pages,
        members: all.length,
        bytes,
        ms: performance.now() - t0,
        listBytes: Buffer.byteLength(JSON.stringify(all)),
      };
    }

    const round = async (phase: string, count: number, options: { profile?: string; markDelivered?: boolean } = {}) => {
      const { profile, markDelivered } = options;
      await Promise.all(generators.map((g) => g.call('record.start', { phase, markDelivered })));
      const a = await snapshot();
      if (profile || markDelivered) await node.call('instrument.start');
      if (profile) await node.call('profile.start');
      const interval = 1000 / scale.groupRate;
      for (let k = 0; k < count; k++) {
        const sender = groupMembers[(k * 97) % groupMembers.length]!;
        await genOf(sender).call('send', { user: sender, conversationId, phase });
        await sleep(interval);
      }
      const expected = count * (online - 1);
      const t0 = performance.now();
      let delivered = 0;
      while (performance.now() - t0 < 15_000) {
        const peek = await Promise.all(generators.map((g) => g.call<{ deliveries: number }>('record.peek', { phase })));
        delivered = peek.reduce((s, p) => s + p.deliveries, 0);
        if (delivered >= expected) break;
        await sleep(200);
      }
      if (markDelivered) {
        // Every receipt answered (or a few seconds more) before the figures are read.
        const t1 = performance.now();
        while (performance.now() - t1 < 10_000) {
          const peek = await Promise.all(generators.map((g) => g.call<{ answered: number }>('record.peek', { phase })));
          if (peek.reduce((sum, p) => sum + p.answered, 0) >= delivered) break;
          await sleep(200);
        }
      }
      const b = await snapshot();
      if (profile) await node.call('profile.stop', { file: profile });
      const db = profile || markDelivered ? await node.call<QueryCounts>('instrument.stop') : null;
      const stops = await Promise.all(
        generators.map((g) =>
          g.call<{
            deliveries: number;
            latency: HistogramData;
            lastBySend: Record<string, number>;
            acks: number;
            ackLatency: HistogramData;
            errors: Record<string, number>;
            receipts: { answered: number; refused: number; pushed: number } | null;
          }>('record.stop', { phase }),
        ),
      );
      const errors: Record<string, number> = {};
      for (const s of stops) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
      // Per message: when its last member had it.
      const last = new Map<string, number>();
      for (const s of stops)
        for (const [k, v] of Object.entries(s.lastBySend)) last.set(k, Math.max(last.get(k) ?? 0, v));
      const lastMember = new Histogram();
      for (const v of last.values()) lastMember.record(v);
      return {
        expected,
        lastMember: percentiles(lastMember),
        delivered: stops.reduce((s, p) => s + p.deliveries, 0),
        latency: percentiles(Histogram.from(stops.map((s) => s.latency))),
        ack: percentiles(stops.map((s) => s.ackLatency)),
        errors,
        usage: usageBetween(a, b),
        db: db ? { messages: count, counts: db } : null,
        receipts: markDelivered
          ? stops.reduce(
              (sum, x) => ({
                answered: sum.answered + (x.receipts?.answered ?? 0),
                refused: sum.refused + (x.receipts?.refused ?? 0),
                pushed: sum.pushed + (x.receipts?.pushed ?? 0),
              }),
              { answered: 0, refused: 0, pushed: 0 },
            )
          : null,
      };
    };

    const main = await round('group', scale.groupMessages);
    log(
      `  ${scale.groupMessages} messages at ${scale.groupRate}/s: ${fmt(main.delivered)}/${fmt(main.expected)} deliveries; ` +
        `latency p50 ${ms(main.latency.p50)} p95 ${ms(main.latency.p95)} p99 ${ms(main.latency.p99)} max ${ms(main.latency.max)}; ack p99 ${ms(main.ack.p99)}; node CPU ${pct(main.usage.nodeCpu)}`,
    );
    await sleep(1_000);
    const file = join(dataDir, 'node-group.cpuprofile');
    const profiled = await round('group-profiled', Math.min(10, scale.groupMessages), { profile: file });
    copyFileSync(file, join(RESULTS_DIR, 'node-group.cpuprofile'));
    log(
      `  profiled round: ${fmt(profiled.delivered)}/${fmt(profiled.expected)} deliveries, p99 ${ms(profiled.latency.p99)}`,
    );
    await sleep(1_000);
    // As the portal does: every member's device marks each message delivered as it arrives (not with --group-only).
    const receipted = groupOnly ? null : await round('group-receipts', scale.groupMessages, { markDelivered: true });
    if (receipted) {
      const r = receipted.receipts!;
      log(
        `  with receipts: ${fmt(receipted.delivered)}/${fmt(receipted.expected)} deliveries, p99 ${ms(receipted.latency.p99)}; ${fmt(r.answered)} receipts answered, ${fmt(r.refused)} refused, ${fmt(r.pushed)} receipts pushed; node CPU ${pct(receipted.usage.nodeCpu)}, MariaDB ${pct(receipted.usage.mariadbCpu)}`,
      );
    }
    return {
      indexerWait,
      members: groupMembers.length,
      online,
      createdBy,
      createNote,
      joining,
      memberPages,
      messages: scale.groupMessages,
      ratePerS: scale.groupRate,
      expected: main.expected,
      delivered: main.delivered,
      latency: main.latency,
      lastMember: main.lastMember,
      ack: main.ack,
      errors: main.errors,
      usage: main.usage,
      profiled: {
        latency: profiled.latency,
        lastMember: profiled.lastMember,
        delivered: profiled.delivered,
        expected: profiled.expected,
        db: profiled.db!,
        profile: summariseProfile(file, ROOT),
        profileFile: 'bench/results/node-group.cpuprofile',
      },
      withReceipts: receipted && {
        delivered: receipted.delivered,
        expected: receipted.expected,
        latency: receipted.latency,
        lastMember: receipted.lastMember,
        receipts: receipted.receipts!,
        usage: receipted.usage,
        db: receipted.db!,
      },
    };
  }

  const pairUsers = generators.flatMap((_, g) => pairsOf(g).flatMap((p) => [p.sender, p.receiver]));

  // 4. Graceful shutdown with every socket open, then the alternative flush window ---------------
  if (!dmOnly && !closedOnly && !groupOnly)
    try {
      const sockets = (await node.call<NodeStats>('stats')).sockets;
      log(`shutting the node down gracefully with ${fmt(sockets)} sockets open`);
      const t0 = performance.now();
      await stopNode(node)();
      results.shutdown = { sockets, seconds: (performance.now() - t0) / 1000 };
      log(`  took ${results.shutdown.seconds.toFixed(1)} s`);
    } catch (error) {
      fail(results, 'shutdown', error);
    }

  if (scale.altFlushMs !== null) {
    try {
      await sleep(1_000);
      node = await spawnNode(nodeEnv(scale.altFlushMs), join(dataDir, 'node-alt.log'));
      log(
        `node restarted with FLUSH_WINDOW_MS=${scale.altFlushMs} (pid ${node.pid}); reconnecting the pairs' sockets only`,
      );
      await connect(pairUsers, 'reconnect');
      // The same comparison points as the main sweep: its fastest unsaturated step and its first saturated one.
      const main = results.dm?.steps ?? [];
      const kept = [
        main.filter((x) => x.acksPerS >= 0.9 * x.offered).pop(),
        main.find((x) => x.acksPerS < 0.9 * x.offered),
      ];
      const steps = kept.flatMap((x) => (x ? [{ rate: x.offered, seconds: 8 }] : []));
      results.alt = await dmSweep(scale.altFlushMs, steps.length ? steps : scale.altSteps, null, 'alt');
    } catch (error) {
      fail(results, 'alternative flush window', error);
    }
  }

  // 5b. Chat users waiting for their acks, on the eager committer and on the fixed window ----------
  if (!dmOnly && !groupOnly)
    try {
      // Waited for on the first fresh node (the node of the phases before may have stopped): its indexer
      // takes over what they queued.
      let indexerWait: IndexerWait | null | undefined;
      const profileClosedStep = async () => {
        const file = join(dataDir, 'node-closed.cpuprofile');
        await node.call('profile.start');
        return async () => {
          await node.call('profile.stop', { file });
          const summary = summariseProfile(file, ROOT, 25);
          log(`  profile of the step (${fmt(summary.busyMs)} of ${fmt(summary.totalMs)} ms busy):`);
          for (const a of summary.activities) log(`    ${a.percent.toFixed(1)}% ${a.name}`);
          for (const f of summary.functions) log(`    ${f.percent.toFixed(1)}% ${f.name}`);
        };
      };
      const closed = await runClosedLoop({
        generators,
        pairsOf,
        async restartNode(mode) {
          await stopNode(node)();
          await sleep(500);
          // The fixed window as the node committed before: one lane of conversations, up to 3 flushes open.
          const before: Record<string, string> = mode === 'window' ? { FLUSH_LANES: '1', FLUSH_CONCURRENCY: '3' } : {};
          node = await spawnNode(
            { ...nodeEnv(null), FLUSH_MODE: mode, ...before },
            join(dataDir, `node-closed-${mode}.log`),
          );
          indexerWait ??= await waitForIndexer('closed loop');
        },
        connect: (list) => connect(list, 'reconnect'),
        snapshot: () => snapshot(),
        instrument: (command: string) => node.call(command),
        log,
        seconds: scale.closedSeconds,
        rounds: scale.closedRounds,
        flushWindowMs: Number(extraEnv.FLUSH_WINDOW_MS ?? 2),
        ...(closedShapes ? { shapes: closedShapes } : {}),
        ...(closedProfile ? { profile: profileClosedStep } : {}),
      });
      results.closedLoop = { ...closed, indexerWait: indexerWait ?? null };
    } catch (error) {
      fail(results, 'closed loop', error);
    }

  // 6. The machine's ceiling: the same generators against a stand-in server that does only what any chat
  // server must (read, ack, push; then also a group-committed insert), so the figures above can be read
  // against what this machine can carry at all.
  if (!dmOnly && !closedOnly && scale.ceilingSteps.length) {
    for (const mode of ['memory', 'durable', 'indexed'] as const) {
      try {
        await sleep(1_000);
        await stopNode(node)();
        node = await spawnRelay(mode, nodeEnv(null), join(dataDir, `relay-${mode}.log`));
        log(
          `machine's ceiling: the ${mode} stand-in server (pid ${node.pid}); reconnecting every socket, as the node had them`,
        );
        await connect(users, 'reconnect');
        results.ceiling[mode] = await dmSweep(2, scale.ceilingSteps, null, mode, scale.latencyRepeats);
      } catch (error) {
        fail(results, `machine's ceiling (${mode})`, error);
      }
    }
  }

  if (cleanups.aborted) return;
  const logs = ['node.log', 'node-alt.log', 'node-closed-eager.log', 'node-closed-window.log'];
  results.nodeLog = summariseLogs(logs.map((name) => join(dataDir, name)));
  for (const name of logs) {
    try {
      copyFileSync(join(dataDir, name), join(RESULTS_DIR, name));
    } catch {
      // not every run has an alternative node
    }
  }
  if (results.nodeLog.errors + results.nodeLog.warnings > 0)
    log(
      `node logged ${results.nodeLog.errors} errors and ${results.nodeLog.warnings} warnings (bench/results/node*.log)`,
    );
  results.dropped = {};
  for (const g of generators) {
    const stats = await g.call<GeneratorStats>('stats').catch(() => null);
    for (const [code, n] of Object.entries(stats?.dropped ?? {}))
      results.dropped[code] = (results.dropped[code] ?? 0) + n;
  }
  results.seconds = (performance.now() - started) / 1000;
  writeFileSync(join(RESULTS_DIR, `node-${scale.name}.json`), JSON.stringify(results, null, 2));
  console.log(`\n${renderConsoleSummary(results)}`);
  if (write || outFile) {
    writeBenchmarks(outFile ?? join(ROOT, 'BENCHMARKS.md'), results);
    log(`wrote the "Domain node" section of ${outFile ?? 'BENCHMARKS.md'}`);
  } else {
    log('BENCHMARKS.md left as it is (smoke run or --no-write)');
  }
  if (results.errors.length) {
    console.error(`\nSome phases failed:\n${results.errors.join('\n')}\nnode log:\n${tail(node.logFile)}`);
  }
}

const fail = (results: { errors: string[] }, phase: string, error: unknown) =>
  recordFailure(results, phase, error, log);
const git = (args: string[]) => gitOutput(ROOT, args);

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '–');
const pct = (n: number | null) => (n === null ? '–' : `${Math.round(n)}%`);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanups.run();
    log('done; children stopped, database dropped');
    process.exit(process.exitCode ?? 0);
  });
