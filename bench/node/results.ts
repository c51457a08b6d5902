import { cpus } from 'node:os';
import type { Percentiles } from '../shared/percentiles.ts';
import type { Machine } from '../shared/machine.ts';
import type { NodeAckFigures } from './node-metrics.ts';
import type { NodeStats, QueryCounts } from '../shared/node-process.ts';
import type { GeneratorStats, TrafficResult } from './generator.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
import type { HeapGroup } from './heap-summary.ts';

export type Snapshot = {
  at: number;
  node: NodeStats;
  generators: GeneratorStats[];
  orchestratorCpuUs: number;
  mariadbCpuS: number | null;
  machine: { busy: number; total: number };
  load: string;
};

/** CPU use between two snapshots, in % of one core (so 200% is both cores), and the node's event loop. */
export type Usage = {
  seconds: number;
  nodeCpu: number;
  nodeLoop: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** The node's longest garbage-collection pause in the interval, and its full (mark-compact) collections. */
  gcMaxMs: number;
  gcMajor: number;
  mariadbCpu: number | null;
  generatorsCpu: number;
  /** The orchestrator (with the in-process gateway). */
  orchestratorCpu: number;
  /** Everything else on the machine (other people's work), in % of one core. */
  othersCpu: number;
  machineBusy: number;
  load: string;
};

export function usageBetween(a: Snapshot, b: Snapshot): Usage {
  const seconds = (b.at - a.at) / 1000;
  const cpu = (s: { cpuUserUs: number; cpuSystemUs: number }) => s.cpuUserUs + s.cpuSystemUs;
  const gens = (s: Snapshot) => s.generators.reduce((sum, g) => sum + cpu(g), 0);
  const active = b.node.eluActive - a.node.eluActive;
  const idle = b.node.eluIdle - a.node.eluIdle;
  const nodeCpu = ((cpu(b.node) - cpu(a.node)) / 1e6 / seconds) * 100;
  const mariadbCpu =
    a.mariadbCpuS !== null && b.mariadbCpuS !== null ? ((b.mariadbCpuS - a.mariadbCpuS) / seconds) * 100 : null;
  const generatorsCpu = ((gens(b) - gens(a)) / 1e6 / seconds) * 100;
  const orchestratorCpu = ((b.orchestratorCpuUs - a.orchestratorCpuUs) / 1e6 / seconds) * 100;
  const machineBusy = (100 * (b.machine.busy - a.machine.busy)) / Math.max(1, b.machine.total - a.machine.total);
  return {
    seconds,
    nodeCpu,
    nodeLoop: (100 * active) / Math.max(1e-9, active + idle),
    loopDelayP99Ms: b.node.loopDelay.p99,
    loopDelayMaxMs: b.node.loopDelay.max,
    gcMaxMs: b.node.gc.maxMs,
    gcMajor: b.node.gc.majorCount,
    mariadbCpu,
    generatorsCpu,
    orchestratorCpu,
    othersCpu: Math.max(0, machineBusy * cpus().length - nodeCpu - (mariadbCpu ?? 0) - generatorsCpu - orchestratorCpu),
    machineBusy,
    load: b.load,
  };
}

export type IdleResult = {
  target: number;
  connected: number;
  failures: Record<string, number>;
  connectSeconds: number;
  before: NodeStats;
  after: NodeStats;
  metricsBefore: { rss: number; heapUsed: number };
  metricsAfter: { rss: number; heapUsed: number };
  rssPerSocket: number;
  heapPerSocket: number;
  externalPerSocket: number;
  socketsPerGiB: number;
  /** JS heap per socket by kind of object, from heap snapshots around the first sockets. */
  heapSample: { sockets: number; total: number; groups: HeapGroup[]; strings: HeapGroup[] };
  load: string;
};

export type DmStep = {
  label: string;
  offered: number;
  seconds: number;
  sentPerS: number;
  acksPerS: number;
  deliveriesPerS: number;
  skipped: number;
  unacked: number;
  undelivered: number;
  errors: Record<string, number>;
  ack: Percentiles;
  delivery: Percentiles;
  usage: Usage;
  drainMs: number;
  /** The node's own part (its /metrics): from a send's arrival at the node to its ack. */
  nodeAck: NodeAckFigures | null;
};

export type DbProfile = { messages: number; counts: QueryCounts };

export type DmSweep = {
  flushWindowMs: number;
  pairs: number;
  sockets: number;
  setup: { opened: number; seconds: number; failures: Record<string, number> };
  steps: DmStep[];
  /** The latency target's rate run again (it varies from run to run on a shared machine): every run counts. */
  repeats: DmStep[];
  /** Rates of the sweep not offered, since lower ones saturated the server (bench/node/run.ts). */
  notOffered: number[];
  profiled: (DmStep & { db: DbProfile; profile: ProfileSummary | null; profileFile: string | null }) | null;
};

/** One shape of the closed loop (pairs × messages each sender keeps in flight) on one flush mode. */
export type ClosedLoopStep = {
  /** FLUSH_MODE of the node: `eager` (the default now) or `window` (every batch waits out the window, as before). */
  mode: 'eager' | 'window';
  pairs: number;
  inFlight: number;
  /** Length of each round (the first second of each left out). */
  seconds: number;
  /** Acks per second of each round, in the order they ran; acksPerS is over all of them. */
  rounds: number[];
  acksPerS: number;
  deliveriesPerS: number;
  ack: Percentiles;
  delivery: Percentiles;
  errors: Record<string, number>;
  unacked: number;
  undelivered: number;
  usage: Usage;
  /** The node's transactions in the step (one per flush; nothing else writes meanwhile), the messages acked, and a flush's mean time. */
  flushes: { count: number; messages: number; meanMs: number; p99Ms: number; maxMs: number };
  /** The node's statements in the step by verb and table (Sequelize's query hooks). */
  statements: Record<string, number>;
};

/**
 * How long a phase waited, before it began, for the node's search indexer to move the earlier phases'
 * queued rows into the index (they would otherwise compete for MariaDB with what the phase measures).
 */
export type IndexerWait = { seconds: number; queuedBefore: number; queuedAfter: number; limitSeconds: number };

export type ClosedLoopResult = {
  /** The flush window both modes ran with (FLUSH_WINDOW_MS). */
  flushWindowMs: number;
  indexerWait: IndexerWait | null;
  /** Per shape, its eager step, then its fixed-window step (each its rounds together). */
  steps: ClosedLoopStep[];
};

export type GroupResult = {
  indexerWait: IndexerWait | null;
  members: number;
  online: number;
  createdBy: 'frames' | 'database';
  createNote: string;
  /**
   * What the sockets received while the group was made over the protocol: the members who joined (their
   * `conversation` views and the join entries of those after them) and the owner (the answers); and what
   * one view listing every member would have weighed, each joiner's before member pages.
   */
  joining: { joiners: TrafficResult; owner: TrafficResult; wholeListBytes: number } | null;
  /** One member reading the whole member list in pages of 1,000 (`members`). */
  memberPages: { pages: number; members: number; bytes: number; ms: number } | null;
  messages: number;
  ratePerS: number;
  expected: number;
  delivered: number;
  latency: Percentiles;
  /** Per message, how long until its last member had it. */
  lastMember: Percentiles;
  ack: Percentiles;
  errors: Record<string, number>;
  usage: Usage;
  profiled: {
    latency: Percentiles;
    lastMember: Percentiles;
    delivered: number;
    expected: number;
    db: DbProfile;
    profile: ProfileSummary | null;
    profileFile: string | null;
  } | null;
  /** A round in which every member's socket marks each message delivered as it arrives (the worst case of receipts). */
  withReceipts: {
    delivered: number;
    expected: number;
    latency: Percentiles;
    lastMember: Percentiles;
    /** Receipts answered and refused, and receipt events the node pushed to the members' sockets. */
    receipts: { answered: number; refused: number; pushed: number };
    usage: Usage;
    db: DbProfile;
  } | null;
};

export type Results = {
  scale: 'full' | 'smoke';
  startedAt: Date;
  seconds: number;
  commit: string;
  dirty: string[];
  machine: Machine;
  mariadb: string;
  /** InnoDB buffer pool during the run, and the server's own setting (restored afterwards). */
  bufferPool: { own: number; used: number } | null;
  generators: { count: number; addresses: string[]; socketsEach: number; connectConcurrency: number };
  nodeEnv: Record<string, string>;
  idle: IdleResult | null;
  dm: DmSweep | null;
  group: GroupResult | null;
  alt: DmSweep | null;
  /** Chat users' closed loop on the eager committer and on the fixed window, side by side. */
  closedLoop: ClosedLoopResult | null;
  /** The same sweep against the stand-in servers of bench/node/relay-process.ts: what this machine can carry at all. */
  ceiling: { memory: DmSweep | null; durable: DmSweep | null; indexed: DmSweep | null };
  shutdown: { sockets: number; seconds: number } | null;
  nodeLog: { errors: number; warnings: number; top: { message: string; count: number }[] };
  /** Sockets the node closed under the generators' feet, by close code (a graceful shutdown's 1001 included). */
  dropped: Record<string, number>;
  errors: string[];
};
