import { cpus } from 'node:os';
import type { Machine } from '../shared/machine.ts';
import type { NodeStats, QueryCounts } from '../shared/node-process.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
import type { Percentiles } from '../shared/percentiles.ts';
import type { Direction, GeneratorStats } from './generator.ts';
import type { ProxyStats } from './proxy-process.ts';

export type Snapshot = {
  at: number;
  eng: NodeStats | null;
  arts: NodeStats | null;
  proxy: ProxyStats | null;
  generators: GeneratorStats[];
  orchestratorCpuUs: number;
  mariadbCpuS: number | null;
  machine: { busy: number; total: number };
  load: string;
};

/** CPU use between two snapshots in % of one core (200% is the whole machine), and event-loop use. */
export type Usage = {
  seconds: number;
  engCpu: number | null;
  engLoop: number | null;
  artsCpu: number | null;
  artsLoop: number | null;
  proxyCpu: number | null;
  mariadbCpu: number | null;
  /** Load generators and the orchestrator (with the in-process gateway). */
  benchCpu: number;
  /** Everything else on the machine. */
  othersCpu: number;
  machineBusy: number;
  load: string;
};

export function usageBetween(a: Snapshot, b: Snapshot): Usage {
  const seconds = (b.at - a.at) / 1000;
  const cpu = (s: { cpuUserUs: number; cpuSystemUs: number }) => s.cpuUserUs + s.cpuSystemUs;
  const percent = (
    x: { cpuUserUs: number; cpuSystemUs: number } | null,
    y: { cpuUserUs: number; cpuSystemUs: number } | null,
  ) => (x && y && cpu(y) >= cpu(x) ? ((cpu(y) - cpu(x)) / 1e6 / seconds) * 100 : null);
  const loop = (x: { eluActive: number; eluIdle: number } | null, y: { eluActive: number; eluIdle: number } | null) => {
    if (!x || !y) return null;
    const active = y.eluActive - x.eluActive;
    const idle = y.eluIdle - x.eluIdle;
    return active >= 0 && idle >= 0 ? (100 * active) / Math.max(1e-9, active + idle) : null;
  };
  const gens = (s: Snapshot) => s.generators.reduce((sum, g) => sum + cpu(g), 0);
  const engCpu = percent(a.eng, b.eng);
  const artsCpu = percent(a.arts, b.arts);
  const proxyCpu = percent(a.proxy, b.proxy);
  const mariadbCpu =
    a.mariadbCpuS !== null && b.mariadbCpuS !== null ? ((b.mariadbCpuS - a.mariadbCpuS) / seconds) * 100 : null;
  const benchCpu = ((gens(b) - gens(a) + b.orchestratorCpuUs - a.orchestratorCpuUs) / 1e6 / seconds) * 100;
  const machineBusy = (100 * (b.machine.busy - a.machine.busy)) / Math.max(1, b.machine.total - a.machine.total);
  return {
    seconds,
    engCpu,
    engLoop: loop(a.eng, b.eng),
    artsCpu,
    artsLoop: loop(a.arts, b.arts),
    proxyCpu,
    mariadbCpu,
    benchCpu,
    othersCpu: Math.max(
      0,
      machineBusy * cpus().length - (engCpu ?? 0) - (artsCpu ?? 0) - (proxyCpu ?? 0) - (mariadbCpu ?? 0) - benchCpu,
    ),
    machineBusy,
    load: b.load,
  };
}

/** The eng node's outbox towards arts, sampled every second: [seconds since the step started, events]. */
export type DepthSample = [number, number];

export type Step = {
  label: string;
  direction: Direction;
  offered: number;
  seconds: number;
  sentPerS: number;
  acksPerS: number;
  /** Received by the other domain's people in the step's window (its first second left out). */
  deliveriesPerS: number;
  skipped: number;
  acked: number;
  delivered: number;
  duplicates: number;
  unacked: number;
  errors: Record<string, number>;
  ack: Percentiles;
  delivery: Percentiles;
  depth: { samples: DepthSample[]; atWindowEnd: number | null; max: number };
  /** After the send window, how long until the last message was received (null: not all within the bound). */
  catchUpSeconds: number | null;
  keptUp: boolean;
  usage: Usage;
};

export type ProcessProfile = {
  process: 'eng node' | 'arts node' | 'proxy';
  summary: ProfileSummary | null;
  file: string | null;
};
export type Profiled = {
  what: string;
  seconds: number;
  /** Events (or messages) that went through during the profiled window. */
  events: number;
  /** What each node handled meanwhile, where it differs: messages eng acknowledged, events arts stored. */
  eventsBy: Partial<Record<'eng node' | 'arts node', number>>;
  profiles: ProcessProfile[];
  db: { process: 'eng node' | 'arts node'; counts: QueryCounts }[];
  usage: Usage | null;
};

export type Drain = {
  total: number;
  /** Unacknowledged messages each generator kept in flight while sending the backlog. */
  blastInFlight: number;
  blast: {
    seconds: number;
    acks: number;
    acksPerS: number;
    errors: Record<string, number>;
    unacked: number;
    ack: Percentiles;
    uniqueIds: number;
  };
  /** The eng outbox towards arts just before arts came back, and the delivery state eng kept for it. */
  depthBefore: number;
  peer: { attempts: number; nextAttemptInSeconds: number | null; lastError: string | null } | null;
  outageSeconds: number;
  restartSeconds: number;
  /** From arts listening again to its first transaction from eng (eng's retry backoff). */
  waitSeconds: number | null;
  /** From the first transaction applied at arts to eng's outbox being empty. */
  drainSeconds: number | null;
  /** From arts listening again until every event was stored. */
  totalSeconds: number | null;
  ratePerS: number | null;
  transactions: number;
  depthSamples: DepthSample[];
  storedOfAcked: number;
  artsRowsAdded: number;
  engDepthAfter: number;
  usage: Usage | null;
  profiled: Profiled | null;
};

export type Results = {
  scale: 'full' | 'smoke';
  startedAt: Date;
  seconds: number;
  commit: string;
  dirty: string[];
  machine: Machine;
  mariadb: string;
  loadAtStart: string;
  loadAtEnd: string;
  domains: { eng: string; arts: string };
  pairs: number;
  generators: { count: number; addresses: string[] };
  nodeEnv: Record<string, string>;
  proxyEnv: Record<string, string>;
  setup: { opened: number; seconds: number; deliveredSeconds: number; failures: Record<string, number> } | null;
  latency: Step | null;
  /** The same path at a rate well below its capacity: what a message's latency is without queueing. */
  lowRate: Step | null;
  sweep: Step[];
  skipped: number[];
  reply: Step | null;
  profiledStep: Profiled | null;
  drain: Drain | null;
  logs: { process: string; errors: number; warnings: number; top: { message: string; count: number }[] }[];
  dropped: Record<string, number>;
  errors: string[];
};
