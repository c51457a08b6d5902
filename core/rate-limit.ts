/**
 * Fixed-window counters kept in this process. Enough for one gateway process; several processes each
 * count on their own, which loosens a limit by the number of processes (see docs/operations.md).
 */
export interface RateLimiter {
  /** Counts one attempt; false once the key has used its allowance in the current window. */
  hit(key: string): { allowed: boolean; retryAfterSeconds: number };
  /** Whether the key is already over its allowance, without counting. */
  blocked(key: string): boolean;
  reset(key: string): void;
}

export function createRateLimiter(options: { limit: number; windowSeconds: number; now?: () => number }): RateLimiter {
  const now = options.now ?? Date.now;
  const windowMs = options.windowSeconds * 1000;
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = now();

  function current(key: string) {
    const t = now();
    if (t - lastSweep > windowMs) {
      for (const [k, w] of windows) if (t - w.start >= windowMs) windows.delete(k);
      lastSweep = t;
    }
    const w = windows.get(key);
    if (!w || t - w.start >= windowMs) return undefined;
    return w;
  }

  return {
    hit(key) {
      const t = now();
      const w = current(key) ?? { start: t, count: 0 };
      w.count += 1;
      windows.set(key, w);
      const retryAfterSeconds = Math.max(1, Math.ceil((w.start + windowMs - t) / 1000));
      return { allowed: w.count <= options.limit, retryAfterSeconds };
    },
    blocked(key) {
      const w = current(key);
      return w !== undefined && w.count >= options.limit;
    },
    reset(key) {
      windows.delete(key);
    },
  };
}
