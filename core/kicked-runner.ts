/**
 * Runs `work` when kicked, one run at a time: a kick while it runs makes one more run after it (not one per
 * kick), so whatever was added meanwhile is seen; once started, it also runs every `intervalMs`, for work
 * another process added. A failed run is handed to `failed`, and the next kick runs again. stop() waits
 * for the run in progress, after which nothing runs.
 */
export function kickedRunner(
  work: () => Promise<void>,
  options: { intervalMs: number; failed(error: unknown): void },
): { start(): void; kick(): void; stop(): Promise<void>; readonly stopped: boolean } {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = work()
      .catch(options.failed)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  return {
    start() {
      kick();
      timer = setInterval(kick, options.intervalMs);
      timer.unref();
    },
    kick,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
    get stopped() {
      return stopped;
    },
  };
}
