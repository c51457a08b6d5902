/**
 * The closed loop of bench:node: chat users who wait for their acks. Each sender keeps a few messages
 * unacknowledged and sends the next as soon as one is acked, so the rate is what the node's answers
 * allow, and a lone message shows what it waits for. Every shape runs on the eager committer (the
 * default) and on the fixed window (FLUSH_MODE=window, how the node committed before), each on a fresh
 * node process with only the pairs' sockets, so the two stand side by side in one run. Each shape takes a
 * few short rounds per mode, the modes alternating (eager, window, window, eager, …): this machine's
 * speed drifts by more than the difference measured within a minute, and one long step per mode left the
 * verdict to whichever mode met the slower minutes.
 */
import { performance } from 'node:perf_hooks';
import type { GeneratorChild } from '../shared/setup.ts';
import { percentiles } from '../shared/percentiles.ts';
import { sleep } from '../shared/orchestrator.ts';
import type { QueryCounts } from '../shared/node-process.ts';
import type { ClosedLoopArgs, ClosedLoopResult as GeneratorResult, DmPair } from './generator.ts';
import { usageBetween, type ClosedLoopResult, type ClosedLoopStep, type Snapshot, type Usage } from './results.ts';

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
  /** Length of one round of one mode, the first second left out. */
  seconds: number;
  /** Rounds per mode and shape (the modes alternate from round to round). */
  rounds: number;
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
  // The modes alternate from round to round and the first mode from shape to shape (eager, window, window,
  // eager, … | window, eager, eager, window, …), so that whatever drifts during the run (the machine's other
  // work, the tables' growth) does not favour one of them; a node is restarted only when the mode changes.
  for (const [i, shape] of shapes.entries()) {
    const raws: Record<Mode, Round[]> = { eager: [], window: [] };
    for (let round = 0; round < deps.rounds; round++) {
      for (const mode of (i + round) % 2 === 0 ? CLOSED_LOOP_MODES : [...CLOSED_LOOP_MODES].reverse()) {
        if (mode !== current) await startOn(mode);
        const profiled = deps.profile && i === 0 && round === 0 && mode === 'eager' ? await deps.profile() : undefined;
        raws[mode].push(await closedRound(deps, shape, `closed-${mode}-${shape.pairs}x${shape.inFlight}-${round}`));
        await profiled?.();
        await sleep(500);
      }
    }
    for (const mode of CLOSED_LOOP_MODES) {
      const step = combineRounds(mode, shape, deps.seconds, raws[mode]);
      steps.push(step);
      log(
        `  ${shape.pairs}×${shape.inFlight} (${mode}): ${fmt(step.acksPerS)} acks/s (rounds ${step.rounds.map(fmt).join(', ')}), ${fmt(step.deliveriesPerS)} deliveries/s; ` +
          `send→receive p50 ${ms(step.delivery.p50)} p99 ${ms(step.delivery.p99)} max ${ms(step.delivery.max)}; ack p50 ${ms(step.ack.p50)} p99 ${ms(step.ack.p99)}; ` +
          `${(step.flushes.messages / Math.max(1, step.flushes.count)).toFixed(1)} per flush (${ms(step.flushes.meanMs)} each, p99 ${ms(step.flushes.p99Ms)}, max ${ms(step.flushes.maxMs)}); node CPU ${pct(step.usage.nodeCpu)}, MariaDB ${pct(step.usage.mariadbCpu)}, machine ${pct(step.usage.machineBusy)}` +
          (Object.keys(step.errors).length ? `; errors ${JSON.stringify(step.errors)}` : '') +
          `; statements per flush: ${perFlush(step)}`,
      );
    }
  }
  return { flushWindowMs: deps.flushWindowMs, steps };
}

/** What one round of one mode measured, before the rounds are put together. */
type Round = { runs: GeneratorResult[]; usage: Usage; counted: QueryCounts };

async function closedRound(
  deps: ClosedLoopDeps,
  shape: { pairs: number; inFlight: number },
  phase: string,
): Promise<Round> {
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
  return { runs, usage: usageBetween(a, b), counted };
}

/** A mode's rounds at one shape as one step: rates over all their measured seconds, latencies merged. */
function combineRounds(
  mode: Mode,
  shape: { pairs: number; inFlight: number },
  seconds: number,
  rounds: Round[],
): ClosedLoopStep {
  const runs = rounds.flatMap((r) => r.runs);
  const sum = (list: GeneratorResult[], f: (r: GeneratorResult) => number) => list.reduce((s, r) => s + f(r), 0);
  // Each round's measured window, once per round (every generator of a round reports the same one).
  const windowOf = (r: Round) => r.runs[0]?.windowSeconds ?? 0;
  const windowSeconds = rounds.reduce((s, r) => s + windowOf(r), 0);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const statements: Record<string, number> = {};
  for (const r of rounds)
    for (const [k, v] of Object.entries(r.counted.statements)) statements[k] = (statements[k] ?? 0) + v.count;
  const transactions = rounds.reduce((s, r) => s + r.counted.transactions.count, 0);
  return {
    mode,
    pairs: shape.pairs,
    inFlight: shape.inFlight,
    seconds,
    rounds: rounds.map((r) => sum(r.runs, (x) => x.acksInWindow) / Math.max(1e-9, windowOf(r))),
    acksPerS: sum(runs, (r) => r.acksInWindow) / windowSeconds,
    deliveriesPerS: sum(runs, (r) => r.deliveriesInWindow) / windowSeconds,
    ack: percentiles(runs.map((r) => r.ackLatency)),
    delivery: percentiles(runs.map((r) => r.deliveryLatency)),
    errors,
    unacked: sum(runs, (r) => r.unacked),
    undelivered: sum(runs, (r) => r.acks) - sum(runs, (r) => r.deliveries),
    usage: meanUsage(rounds.map((r) => r.usage)),
    statements,
    flushes: {
      count: transactions,
      messages: sum(runs, (r) => r.acks),
      meanMs: rounds.reduce((s, r) => s + r.counted.transactions.ms, 0) / Math.max(1, transactions),
      // The worst round's: a p99 of the rounds together would need their flush times, which are not kept.
      p99Ms: Math.max(0, ...rounds.map((r) => r.counted.transactions.p99Ms)),
      maxMs: Math.max(0, ...rounds.map((r) => r.counted.transactions.maxMs)),
    },
  };
}

/** The usage of several intervals as one: shares weighted by each interval's length, the worst of the maxima. */
function meanUsage(list: Usage[]): Usage {
  const total = list.reduce((s, u) => s + u.seconds, 0);
  const mean = (f: (u: Usage) => number) => list.reduce((s, u) => s + f(u) * u.seconds, 0) / Math.max(1e-9, total);
  const last = list[list.length - 1]!;
  return {
    seconds: total,
    nodeCpu: mean((u) => u.nodeCpu),
    nodeLoop: mean((u) => u.nodeLoop),
    loopDelayP99Ms: Math.max(...list.map((u) => u.loopDelayP99Ms)),
    loopDelayMaxMs: Math.max(...list.map((u) => u.loopDelayMaxMs)),
    gcMaxMs: Math.max(...list.map((u) => u.gcMaxMs)),
    gcMajor: list.reduce((s, u) => s + u.gcMajor, 0),
    mariadbCpu: list.every((u) => u.mariadbCpu !== null) ? mean((u) => u.mariadbCpu!) : null,
    generatorsCpu: mean((u) => u.generatorsCpu),
    orchestratorCpu: mean((u) => u.orchestratorCpu),
    othersCpu: mean((u) => u.othersCpu),
    machineBusy: mean((u) => u.machineBusy),
    load: last.load,
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
