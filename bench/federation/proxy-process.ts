/**
 * The federation proxy for the benchmark, in a child process of its own as in production: the real
 * loadProxyConfig + startProxy on the environment it is given, plus an IPC side door through which the
 * orchestrator reads its CPU and event-loop use and starts and stops a CPU profile.
 * Run only by bench/federation/run.ts.
 */
import { performance } from 'node:perf_hooks';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy } from '../../proxy/main.ts';
import { serveIpc } from '../shared/ipc.ts';
import { cpuProfilerCommands } from '../shared/cpu-profiler.ts';

export type ProxyStats = { cpuUserUs: number; cpuSystemUs: number; eluActive: number; eluIdle: number; rss: number };

const proxy = await startProxy(loadProxyConfig(process.env));

serveIpc(
  {
    stats(): ProxyStats {
      const cpu = process.cpuUsage();
      const elu = performance.eventLoopUtilization();
      return {
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        eluActive: elu.active,
        eluIdle: elu.idle,
        rss: process.memoryUsage().rss,
      };
    },
    ...cpuProfilerCommands(),
    async shutdown() {
      await stop();
      setImmediate(() => process.exit(0));
    },
  },
  () => void stop().finally(() => process.exit(0)),
);

process.send!({ event: 'ready', url: proxy.url, publicKey: proxy.publicKey, pid: process.pid });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= Promise.race([proxy.close(), new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref())]);
  return stopping;
}
