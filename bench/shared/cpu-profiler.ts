import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * IPC commands for a benchmark's child process that start and stop V8's CPU profiler on the child's own
 * main thread (sampling every 0.5 ms) and write the `.cpuprofile` (open it in Chrome DevTools, or
 * summarise it with bench/shared/profile-summary.ts).
 */
export function cpuProfilerCommands() {
  let profiler: Session | undefined;
  return {
    async 'profile.start'() {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
    },
    async 'profile.stop'({ file }: { file: string }) {
      if (!profiler) throw new Error('no profile running');
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      profiler = undefined;
      writeFileSync(file, JSON.stringify(profile));
      return { file };
    },
  };
}
