import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

/** What the orchestrator reads from a server process it measures (the node, or the stand-in server). */
export type NodeStats = {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  eluActive: number;
  eluIdle: number;
  loopDelay: { p50: number; p99: number; max: number };
  /** Garbage-collection pauses since the last stats call: all of them, and the longest full (mark-compact) one. */
  gc: { count: number; totalMs: number; maxMs: number; majorCount: number; majorMaxMs: number };
  sockets: number;
};

/**
 * Starts watching this process's event loop and garbage collections; `stats(sockets)` reads memory,
 * CPU and the event loop, and what the loop and the collector did since the previous call.
 */
export function watchProcess(): { stats(sockets: number): NodeStats } {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const none = () => ({ count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMaxMs: 0 });
  let gcSince = none();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const major =
        (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
        constants.NODE_PERFORMANCE_GC_MAJOR;
      gcSince.count += 1;
      gcSince.totalMs += entry.duration;
      gcSince.maxMs = Math.max(gcSince.maxMs, entry.duration);
      if (major) {
        gcSince.majorCount += 1;
        gcSince.majorMaxMs = Math.max(gcSince.majorMaxMs, entry.duration);
      }
    }
  }).observe({ entryTypes: ['gc'] });
  return {
    stats(sockets) {
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const elu = performance.eventLoopUtilization();
      const delay = {
        p50: loopDelay.percentile(50) / 1e6,
        p99: loopDelay.percentile(99) / 1e6,
        max: loopDelay.max / 1e6,
      };
      loopDelay.reset();
      const gc = gcSince;
      gcSince = none();
      return {
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        eluActive: elu.active,
        eluIdle: elu.idle,
        loopDelay: delay,
        gc,
        sockets,
      };
    },
  };
}
