/**
 * Runs `work` when kicked, one run at a time: a kick while it runs makes one more run after it (not one per
 * kick), so whatever was added meanwhile is seen; once started, it also runs every `intervalMs`, for work
 * another process added. A failed run is handed to `failed`, and the next kick runs again. stop() waits
 * for the run in progress, after which nothing runs. settle() kicks too, and resolves with what the first
 * run that starts after it returned (undefined when that run failed, or none ran because it stopped): a
 * caller that just added work learns how it went.
 */
export function kickedRunner<R = void>(
  work: () => Promise<R>,
  options: { intervalMs: number; failed(error: unknown): void },
): {
  start(): void;
  kick(): void;
  settle(): Promise<R | undefined>;
  stop(): Promise<void>;
  readonly stopped: boolean;
} {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // Waiting for the next run to start: the run in progress may have read before their work was added.
  let waiting: ((result: R | undefined) => void)[] = [];

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    const told = waiting;
    waiting = [];
    running = work()
      .then(
        (result) => {
          for (const tell of told) tell(result);
        },
        (error: unknown) => {
          for (const tell of told) tell(undefined);
          options.failed(error);
        },
      )
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
    settle() {
      if (stopped) return Promise.resolve(undefined);
      return new Promise<R | undefined>((resolve) => {
        waiting.push(resolve);
        kick();
      });
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      for (const tell of waiting.splice(0)) tell(undefined);
    },
    get stopped() {
      return stopped;
    },
  };
}
