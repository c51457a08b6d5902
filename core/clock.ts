/** A timer a clock set; only the clock that set it can clear it. */
export type ClockTimer = { unref(): ClockTimer };

/**
 * Where time comes from wherever it decides behaviour (a window passed, a token expired, a timer due), so
 * that tests can move it rather than wait for it. Passed in, never read from a global.
 */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Runs `run` once, `ms` from now by this clock. */
  setTimeout(run: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

/** The machine's clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** A clock that runs with the machine's and that a test can move forward. */
export interface TestClock extends Clock {
  /** Moves the clock `ms` forward: timers that fall due meanwhile run now, in the order they fall due. */
  advance(ms: number): void;
  /**
   * Back to the machine's time, so that the next test starts where other units (a gateway issuing
   * tokens) are. Timers already set still fire when real time reaches them.
   */
  reset(): void;
}

/**
 * The machine's time plus whatever the test added: timers fire in real time as usual, and early when the
 * clock is moved past them. Real time keeps running, so other units (a gateway issuing tokens) still agree.
 */
export function createTestClock(): TestClock {
  let offset = 0;
  let sequence = 0;
  type Entry = { due: number; order: number; run(): void; real: NodeJS.Timeout; unref(): ClockTimer };
  const pending = new Set<Entry>();
  const now = () => Date.now() + offset;

  function fire(entry: Entry) {
    if (!pending.delete(entry)) return;
    clearTimeout(entry.real);
    entry.run();
  }

  return {
    now,
    setTimeout(run, ms) {
      const entry: Entry = {
        due: now() + Math.max(0, ms),
        order: sequence++,
        run,
        real: setTimeout(() => fire(entry), Math.max(0, ms)),
        unref() {
          entry.real.unref();
          return entry;
        },
      };
      pending.add(entry);
      return entry;
    },
    clearTimeout(timer) {
      const entry = timer as Entry | undefined;
      if (!entry || !pending.delete(entry)) return;
      clearTimeout(entry.real);
    },
    advance(ms) {
      offset += ms;
      const due = [...pending].filter((e) => e.due <= now()).sort((a, b) => a.due - b.due || a.order - b.order);
      for (const entry of due) fire(entry);
    },
    reset() {
      offset = 0;
    },
  };
}
