/**
 * One domain node process for the benchmark: the real composition root (loadNodeConfig + startNode on
 * the environment it is given), plus an IPC side door through which the orchestrator reads memory,
 * CPU, event-loop figures and database round trips, and starts and stops a CPU profile.
 * Run by bench/node/run.ts and bench/federation/run.ts (with --expose-gc, so memory is read after a full collection).
 */
import { writeHeapSnapshot } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { QueryTypes, type Sequelize } from 'sequelize';
import { loadNodeConfig } from '../../node/config.ts';
import { startNode } from '../../node/main.ts';
import { cpuProfilerCommands } from './cpu-profiler.ts';
import { serveServerProcess } from './ipc.ts';
import { watchProcess, type NodeStats } from './process-stats.ts';

export type { NodeStats } from './process-stats.ts';

export type QueryCounts = {
  /** Statements by kind (SELECT, INSERT, UPDATE, START, COMMIT, …), with the time from send to answer. */
  statements: Record<string, { count: number; ms: number }>;
  /** `p99Ms`: the 99th percentile of a transaction's time from its start to its commit. */
  transactions: { count: number; ms: number; maxMs: number; p99Ms: number };
  /** How long the counting ran. */
  wallMs: number;
};

const node = await startNode(loadNodeConfig(process.env), { migrate: true });
const gc = (globalThis as { gc?: () => void }).gc;
const watched = watchProcess();

const counts: QueryCounts = { statements: {}, transactions: { count: 0, ms: 0, maxMs: 0, p99Ms: 0 }, wallMs: 0 };
let transactionMs: number[] = [];
let countingSince = 0;
let instrumenting = false;
const queryStarted = new WeakMap<object, number>();
instrumentTransactions(node.sequelize);

serveServerProcess(
  {
    stats({ collect }: { collect?: boolean }): NodeStats {
      if (collect && gc) {
        gc();
        gc();
      }
      return watched.stats(node.sockets.registry.size);
    },
    /** A heap snapshot after a full collection (blocks the node for a moment; only between measurements). */
    'heap.snapshot'({ file }: { file: string }) {
      gc?.();
      writeHeapSnapshot(file);
      return { file };
    },
    async metrics() {
      const response = await fetch(`${node.localUrl}/metrics`);
      const text = await response.text();
      const pick = (name: string) =>
        Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { rss: pick('process_resident_memory_bytes'), heapUsed: pick('nodejs_heap_size_used_bytes') };
    },
    /** Rows waiting in the search index's queue (node/messages/search-index.ts), which the indexer moves into the index. */
    async 'search.queued'(): Promise<{ queued: number }> {
      const [row] = await node.sequelize.query<{ n: number | string }>(
        'SELECT COUNT(*) AS n FROM message_search_queue',
        {
          type: QueryTypes.SELECT,
        },
      );
      return { queued: Number(row?.n ?? 0) };
    },
    'instrument.start'() {
      counts.statements = {};
      counts.transactions = { count: 0, ms: 0, maxMs: 0, p99Ms: 0 };
      transactionMs = [];
      countingSince = performance.now();
      instrumenting = true;
      node.sequelize.addHook('beforeQuery', 'bench', (options) => {
        queryStarted.set(options, performance.now());
      });
      node.sequelize.addHook('afterQuery', 'bench', (options, query) => {
        const started = queryStarted.get(options);
        const sql = String((query as unknown as { sql?: string }).sql ?? '');
        const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '?';
        // Statements by verb and table, so the flush's own statements stand apart from, say, cache loads.
        const table = /\b(?:FROM|INTO|UPDATE)\s+`?(\w+)`?/i.exec(sql)?.[1];
        // A small flush on MariaDB is one statement, its transaction within (node/messages/flush-in-one-trip.ts).
        const wholeFlush = verb === 'BEGIN' && /^\s*BEGIN NOT ATOMIC .*?START TRANSACTION/s.test(sql);
        const kind = wholeFlush ? 'flush in one statement' : table ? `${verb} ${table}` : verb;
        const entry = (counts.statements[kind] ??= { count: 0, ms: 0 });
        entry.count += 1;
        if (started === undefined) return;
        entry.ms += performance.now() - started;
        if (wholeFlush) countTransaction(performance.now() - started);
      });
    },
    'instrument.stop'(): QueryCounts {
      instrumenting = false;
      counts.wallMs = performance.now() - countingSince;
      transactionMs.sort((a, b) => a - b);
      counts.transactions.p99Ms = transactionMs[Math.floor(0.99 * (transactionMs.length - 1))] ?? 0;
      node.sequelize.removeHook('beforeQuery', 'bench');
      node.sequelize.removeHook('afterQuery', 'bench');
      return counts;
    },
    ...cpuProfilerCommands(),
  },
  stop,
  { url: node.url, localUrl: node.localUrl, pid: process.pid },
);

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= Promise.race([node.close(), new Promise<void>((resolve) => setTimeout(resolve, 20_000).unref())]);
  return stopping;
}

/** Times each transaction (the group committer runs one per flush) while instrumentation is on. */
function instrumentTransactions(sequelize: Sequelize): void {
  const original = sequelize.transaction.bind(sequelize) as (...args: unknown[]) => Promise<unknown>;
  (sequelize as unknown as { transaction: (...args: unknown[]) => Promise<unknown> }).transaction = async (
    ...args: unknown[]
  ) => {
    if (!instrumenting || typeof args[args.length - 1] !== 'function') return original(...args);
    const started = performance.now();
    try {
      return await original(...args);
    } finally {
      countTransaction(performance.now() - started);
    }
  };
}

function countTransaction(ms: number): void {
  counts.transactions.count += 1;
  counts.transactions.ms += ms;
  counts.transactions.maxMs = Math.max(counts.transactions.maxMs, ms);
  transactionMs.push(ms);
}
