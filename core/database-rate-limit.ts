import { createHash } from 'node:crypto';
import { QueryTypes, type Sequelize } from 'sequelize';
import type { RateLimiter } from './rate-limit.ts';

/**
 * Fixed-window counters in the database (table `rate_limits`), so that every process sharing it counts
 * together: N gateway processes behind a load balancer allow what one would, not N times as much. One
 * atomic upsert a hit. `name` keeps limiters apart; keys are stored as hashes.
 */
export function createDatabaseRateLimiter(options: {
  sequelize: Sequelize;
  name: string;
  limit: number;
  windowSeconds: number;
  now?: () => number;
}): RateLimiter {
  const { sequelize } = options;
  const now = options.now ?? Date.now;
  const windowMs = options.windowSeconds * 1000;
  const mysql = sequelize.getDialect() !== 'sqlite';
  const hashOf = (key: string) => createHash('sha256').update(`${options.name}\n${key}`).digest('hex');
  let lastSweep = 0;

  async function read(hash: string): Promise<{ start: number; count: number } | undefined> {
    const [row] = await sequelize.query<{ window_start: number | string; count: number | string }>(
      'SELECT window_start, count FROM rate_limits WHERE key_hash = ?',
      {
        replacements: [hash],
        type: QueryTypes.SELECT,
      },
    );
    return row ? { start: Number(row.window_start), count: Number(row.count) } : undefined;
  }

  async function sweep(t: number) {
    if (t - lastSweep < windowMs) return;
    lastSweep = t;
    // Windows of every limiter end after at most their own length; an hour covers the longest in use.
    await sequelize.query('DELETE FROM rate_limits WHERE window_start < ?', {
      replacements: [t - Math.max(windowMs, 3_600_000)],
    });
  }

  /*
   * A hit is counted and judged in one statement, so that hits side by side each learn where they came:
   * counted first and read afterwards, they would read one another's and all be refused once a burst
   * outran the allowance. A window that has run out starts again at 1. Both dialects read the row's old
   * values on the right-hand side of every assignment.
   */

  /**
   * MariaDB: the new count comes back as the statement's insert id (LAST_INSERT_ID(expr)); 0 when the row
   * is new, the window's first hit.
   */
  async function countMysql(hash: string, t: number, expired: number): Promise<boolean> {
    const [insertId] = await sequelize.query(
      `INSERT INTO rate_limits (key_hash, window_start, count) VALUES (?, ?, 1)
       ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(IF(window_start <= ?, 1, count + 1)), window_start = IF(window_start <= ?, ?, window_start)`,
      { replacements: [hash, t, expired, expired, t], type: QueryTypes.INSERT },
    );
    return (Number(insertId) || 1) <= options.limit;
  }

  /**
   * SQLite (whose RETURNING rows Sequelize drops): a hit past the allowance changes nothing, so the count
   * stops at the limit, and the statement's change count says whether the hit was let through.
   */
  async function countSqlite(hash: string, t: number, expired: number): Promise<boolean> {
    const [, changes] = await sequelize.query(
      `INSERT INTO rate_limits (key_hash, window_start, count) VALUES (?, ?, 1)
       ON CONFLICT(key_hash) DO UPDATE SET count = CASE WHEN window_start <= ? THEN 1 ELSE count + 1 END,
         window_start = CASE WHEN window_start <= ? THEN ? ELSE window_start END
       WHERE window_start <= ? OR count < ?`,
      { replacements: [hash, t, expired, expired, t, expired, options.limit], type: QueryTypes.INSERT },
    );
    return Number(changes) === 1;
  }

  return {
    async hit(key) {
      const t = now();
      const hash = hashOf(key);
      const allowed = await (mysql ? countMysql : countSqlite)(hash, t, t - windowMs);
      // The window's start, for Retry-After: it moves only when a window runs out.
      const start = (await read(hash))?.start ?? t;
      await sweep(t);
      return { allowed, retryAfterSeconds: Math.max(1, Math.ceil((start + windowMs - t) / 1000)) };
    },
    async blocked(key) {
      const w = await read(hashOf(key));
      return w !== undefined && now() - w.start < windowMs && w.count >= options.limit;
    },
    async release(key) {
      await sequelize.query('UPDATE rate_limits SET count = count - 1 WHERE key_hash = ? AND count > 0', {
        replacements: [hashOf(key)],
      });
    },
    async reset(key) {
      await sequelize.query('DELETE FROM rate_limits WHERE key_hash = ?', { replacements: [hashOf(key)] });
    },
  };
}
