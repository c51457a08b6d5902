/** Fixed-window counters: one attempt at a time, per key. */
export interface RateLimiter {
  /** Counts one attempt; false once the key has used its allowance in the current window. */
  hit(key: string): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
  /** Whether the key is already over its allowance, without counting. */
  blocked(key: string): Promise<boolean>;
  /**
   * Takes back one attempt counted in the key's window: one that turned out no guess (the right
   * password), so that an allowance of guesses is spent by failures alone. Counted first and taken back
   * after, attempts side by side are all counted while they run: a burst cannot outrun the allowance.
   */
  release(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

/**
 * Counters kept in this process, for tests and tools. The units count in their database
 * (core/database-rate-limit.ts), so that all their processes count together.
 */
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
    async hit(key) {
      const t = now();
      const w = current(key) ?? { start: t, count: 0 };
      w.count += 1;
      windows.set(key, w);
      const retryAfterSeconds = Math.max(1, Math.ceil((w.start + windowMs - t) / 1000));
      return { allowed: w.count <= options.limit, retryAfterSeconds };
    },
    async blocked(key) {
      const w = current(key);
      return w !== undefined && w.count >= options.limit;
    },
    async release(key) {
      const w = current(key);
      if (w && w.count > 0) w.count -= 1;
    },
    async reset(key) {
      windows.delete(key);
    },
  };
}

/** A token bucket: `take` spends tokens if there are enough; tokens come back at a steady rate, up to `burst`. */
export type TokenBucket = {
  /**
   * Spends `cost` tokens (one by default), or refuses and spends none; `retryAfterMs` is how long until the
   * bucket is full again (0 when allowed), so that a client told to wait that long may then send a whole burst.
   * A cost above `burst` is always refused.
   */
  take(cost?: number): { allowed: boolean; retryAfterMs: number };
};

/**
 * A token bucket kept in memory and checked synchronously, for a limit on one thing in one process (a
 * socket's frames, say), checked for every frame: there a promise and a keyed map per check, as the
 * counters above take, would cost more than the check. Unlike a fixed window it never lets through two
 * bursts back to back at a window's edge. A `burst` below 1 refuses everything.
 */
export function createTokenBucket(options: { ratePerSecond: number; burst: number; now?: () => number }): TokenBucket {
  const now = options.now ?? Date.now;
  const { ratePerSecond, burst } = options;
  let tokens = burst;
  let at = now();
  return {
    take(cost = 1) {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * ratePerSecond);
      at = t;
      if (tokens >= cost) {
        tokens -= cost;
        return { allowed: true, retryAfterMs: 0 };
      }
      return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(((burst - tokens) / ratePerSecond) * 1000)) };
    },
  };
}

/** Token buckets by key (an address, say): `take` spends from the key's bucket as a TokenBucket's does. */
export type KeyedTokenBuckets = {
  take(key: string, cost?: number): { allowed: boolean; retryAfterMs: number };
};

/**
 * A token bucket per key, kept in memory and checked synchronously (as createTokenBucket's, for a check on
 * every message, where a statement or a promise per check would cost more than the check). A key that is
 * not held has a full bucket, so a bucket that has filled up again is forgotten: the map holds only the
 * keys that spent something lately, swept once per time a bucket takes to fill.
 *
 * A key refused stays refused until the time it was told to wait: a client sends what was refused again
 * then, in its order, and a later message already on its way, let through by the few tokens back
 * meanwhile, would otherwise be stored before the earlier ones.
 */
export function createKeyedTokenBuckets(options: {
  ratePerSecond: number;
  burst: number;
  now?: () => number;
}): KeyedTokenBuckets {
  const now = options.now ?? Date.now;
  const { ratePerSecond, burst } = options;
  const fillMs = (burst / ratePerSecond) * 1000;
  const buckets = new Map<string, { tokens: number; at: number; closedUntil: number }>();
  let lastSweep = now();

  function sweep(t: number) {
    if (t - lastSweep < fillMs) return;
    lastSweep = t;
    for (const [key, bucket] of buckets) if (t - bucket.at >= fillMs) buckets.delete(key);
  }

  return {
    take(key, cost = 1) {
      const t = now();
      sweep(t);
      let bucket = buckets.get(key);
      if (!bucket) {
        bucket = { tokens: burst, at: t, closedUntil: 0 };
        buckets.set(key, bucket);
      } else {
        bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * ratePerSecond);
        bucket.at = t;
      }
      if (t < bucket.closedUntil) return { allowed: false, retryAfterMs: bucket.closedUntil - t };
      if (bucket.tokens >= cost) {
        bucket.tokens -= cost;
        return { allowed: true, retryAfterMs: 0 };
      }
      const retryAfterMs = Math.max(1, Math.ceil(((burst - bucket.tokens) / ratePerSecond) * 1000));
      bucket.closedUntil = t + retryAfterMs;
      return { allowed: false, retryAfterMs };
    },
  };
}
