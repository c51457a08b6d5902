/**
 * The closed loop of bench:node: chat users who wait for their acks. Each sender keeps a few messages
 * unacknowledged and sends the next as soon as one is acked, so the rate is what the node's answers
 * allow, and a lone message shows what it waits for. Every shape runs on the eager committer (the
 * default) and on the fixed window (FLUSH_MODE=window, how the node committed before), each on a fresh
 * node process with only the pairs' sockets, so the two stand side by side in one run.
 */
import { performance } from 'node:perf_hooks';
import type { GeneratorChild } from '../shared/setup.ts';
import { percentiles } from '../shared/percentiles.ts';
import { sleep } from '../shared/orchestrator.ts';
import type { QueryCounts } from '../shared/node-process.ts';
import type { ClosedLoopArgs, ClosedLoopResult as GeneratorResult, DmPair } from './generator.ts';
import { usageBetween, type ClosedLoopResult, type ClosedLoopStep, type Snapshot } from './results.ts';

/** Pairs × messages in flight per pair, as the issue asks: a quiet chat, then busier ones. */
export const CLOSED_LOOP_SHAPES: { pairs: number; inFlight: number }[] = [
  { pairs: 2, inFlight: 2 },
  { pairs: 10, inFlight: 2 },
  { pairs: 20, inFlight: 20 },
  { pairs: 50, inFlight: 10 },
];
export const CLOSED_LOOP_MODES = ['eager', 'window'] as const;
type Mode = (typeof CLOSED_LOOP_MODES)[number];

export type ClosedLoopDeps = {
  generators: GeneratorChild[];
  /** Each generator's pairs, in order; the closed loop uses the first ones, spread round robin. */
  pairsOf(generator: number): DmPair[];
  /** Stops the node and starts a fresh one with this FLUSH_MODE (FLUSH_WINDOW_MS at its default). */
  restartNode(mode: Mode): Promise<void>;
  connect(users: number[]): Promise<{ connected: number }>;
  snapshot(): Promise<Snapshot>;
  /** Starts and stops counting the node's transactions (one per flush) and statements. */
  instrument(command: 'instrument.start'): Promise<unknown>;
  instrument(command: 'instrument.stop'): Promise<QueryCounts>;
  log(line: string): void;
  seconds: number;
  flushWindowMs: number;
  /** The shapes to run, CLOSED_LOOP_SHAPES unless said (--closed-shapes, for trying a change). */
  shapes?: { pairs: number; inFlight: number }[];
  /**
   * Profiles the node during the first shape's eager step (--closed-profile, for trying a change): called
   * to start, and its answer called to stop and report.
   */
  profile?: () => Promise<() => Promise<void>>;
};

export async function runClosedLoop(deps: ClosedLoopDeps): Promise<Omit<ClosedLoopResult, 'indexerWait'>> {
  const { generators, log, shapes = CLOSED_LOOP_SHAPES } = deps;
  const most = Math.max(...shapes.map((s) => s.pairs));
  // Pair k runs on generator k mod G, so a shape of n pairs uses the first n and spreads them evenly.
  const lists: DmPair[][] = generators.map(() => []);
  const own = generators.map((_, g) => deps.pairsOf(g));
  for (let k = 0; k < most; k++) {
    const g = k % generators.length;
    const pair = own[g]![Math.floor(k / generators.length)];
    if (!pair) throw new Error(`the closed loop needs ${most} pairs; generator ${g} has only ${own[g]!.length}`);
    lists[g]!.push(pair);
  }
  const users = lists.flat().flatMap((p) => [p.sender, p.receiver]);
  let current: Mode | null = null;
  const startOn = async (mode: Mode) => {
    await deps.restartNode(mode);
    const { connected } = await deps.connect(users);
    const setups = await Promise.all(
      generators.map((g, i) => g.call<{ opened: number }>('dm.setup', { list: lists[i], concurrency: 8 }, 120_000)),
    );
    log(
      `closed loop on a fresh node with FLUSH_MODE=${mode}: ${connected} sockets, ${setups.reduce((s, x) => s + x.opened, 0)} pairs' conversations`,
    );
    current = mode;
  };
  const steps: ClosedLoopStep[] = [];
  // The modes take turns going first (eager, window | window, eager | …), so that whatever drifts during
  // the run (the machine's other work, the tables' growth) does not favour one of them throughout.
  for (const [i, shape] of shapes.entries()) {
    for (const mode of i % 2 === 0 ? CLOSED_LOOP_MODES : [...CLOSED_LOOP_MODES].reverse()) {
      if (mode !== current) await startOn(mode);
      const profiled = deps.profile && i === 0 && mode === 'eager' ? await deps.profile() : undefined;
      const step = await closedStep(deps, mode, shape, `closed-${mode}-${shape.pairs}x${shape.inFlight}`);
      await profiled?.();
      steps.push(step);
      log(
        `  ${shape.pairs}×${shape.inFlight} (${mode}): ${fmt(step.acksPerS)} acks/s, ${fmt(step.deliveriesPerS)} deliveries/s; ` +
          `send→receive p50 ${ms(step.delivery.p50)} p99 ${ms(step.delivery.p99)} max ${ms(step.delivery.max)}; ack p50 ${ms(step.ack.p50)} p99 ${ms(step.ack.p99)}; ` +
          `${(step.flushes.messages / Math.max(1, step.flushes.count)).toFixed(1)} per flush (${ms(step.flushes.meanMs)} each, p99 ${ms(step.flushes.p99Ms)}, max ${ms(step.flushes.maxMs)}); node CPU ${pct(step.usage.nodeCpu)}, MariaDB ${pct(step.usage.mariadbCpu)}, machine ${pct(step.usage.machineBusy)}` +
          (Object.keys(step.errors).length ? `; errors ${JSON.stringify(step.errors)}` : '') +
          `; statements per flush: ${perFlush(step)}`,
      );
      await sleep(500);
    }
  }
  return { flushWindowMs: deps.flushWindowMs, steps };
}

async function closedStep(
  deps: ClosedLoopDeps,
  mode: ClosedLoopStep['mode'],
  shape: { pairs: number; inFlight: number },
  phase: string,
): Promise<ClosedLoopStep> {
  const { generators, seconds } = deps;
  const share = (g: number) =>
    Math.floor(shape.pairs / generators.length) + (g < shape.pairs % generators.length ? 1 : 0);
  await deps.instrument('instrument.start');
  const a = await deps.snapshot();
  const t0 = performance.now();
  const running = Promise.all(
    generators.flatMap((g, i) => {
      const args: ClosedLoopArgs = {
        phase,
        pairs: share(i),
        inFlight: shape.inFlight,
        durationMs: seconds * 1000,
        warmupMs: 1_000,
      };
      return args.pairs > 0 ? [g.call<GeneratorResult>('dm.closed', args, (seconds + 60) * 1000)] : [];
    }),
  );
  // Usage over the sending time only (not the drain that follows it).
  await sleep(Math.max(0, seconds * 1000 - (performance.now() - t0)));
  const b = await deps.snapshot();
  const runs = await running;
  const counted = await deps.instrument('instrument.stop');
  const sum = (f: (r: GeneratorResult) => number) => runs.reduce((s, r) => s + f(r), 0);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const windowSeconds = runs[0]!.windowSeconds;
  return {
    mode,
    pairs: shape.pairs,
    inFlight: shape.inFlight,
    seconds,
    acksPerS: sum((r) => r.acksInWindow) / windowSeconds,
    deliveriesPerS: sum((r) => r.deliveriesInWindow) / windowSeconds,
    ack: percentiles(runs.map((r) => r.ackLatency)),
    delivery: percentiles(runs.map((r) => r.deliveryLatency)),
    errors,
    unacked: sum((r) => r.unacked),
    undelivered: sum((r) => r.acks) - sum((r) => r.deliveries),
    usage: usageBetween(a, b),
    statements: Object.fromEntries(Object.entries(counted.statements).map(([k, v]) => [k, v.count])),
    flushes: {
      count: counted.transactions.count,
      messages: sum((r) => r.acks),
      meanMs: counted.transactions.ms / Math.max(1, counted.transactions.count),
      p99Ms: counted.transactions.p99Ms,
      maxMs: counted.transactions.maxMs,
    },
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '–');
const pct = (n: number | null) => (n === null ? '–' : `${Math.round(n)}%`);

/** The statements the step sent, per flush transaction, most frequent first. */
function perFlush(step: ClosedLoopStep): string {
  const flushes = Math.max(1, step.flushes.count);
  return Object.entries(step.statements)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${(n / flushes).toFixed(2)}`)
    .join(', ');
}
