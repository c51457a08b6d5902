import { join } from 'node:path';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

describe('counters in the database', () => {
  let db: TestDatabase;
  let sequelize: Sequelize;

  beforeAll(async () => {
    db = await createTestDatabase('rate-limits');
    sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'rate-limits.sqlite') });
    // The table as the units' migrations make it (gateway 0005, node 0040).
    await sequelize.query(
      'CREATE TABLE rate_limits (key_hash CHAR(64) PRIMARY KEY, window_start BIGINT NOT NULL, count INTEGER NOT NULL)',
    );
  });
  afterAll(async () => {
    await sequelize?.close();
    await db?.drop();
  });

  it('let through exactly the allowance of a burst of hits side by side, and say when to come back', async () => {
    const limiter = createDatabaseRateLimiter({ sequelize, name: 'burst', limit: 20, windowSeconds: 60 });
    const hits = await Promise.all(Array.from({ length: 30 }, () => limiter.hit('bot@eng.campus.test')));
    expect(hits.filter((h) => h.allowed)).toHaveLength(20);
    for (const hit of hits) expect(hit.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(await limiter.blocked('bot@eng.campus.test')).toBe(true);
    // Another key counts for itself.
    expect((await limiter.hit('other@eng.campus.test')).allowed).toBe(true);
  });

  it('start a key again at one once its window has run out', async () => {
    let now = 1_000_000;
    const limiter = createDatabaseRateLimiter({
      sequelize,
      name: 'window',
      limit: 2,
      windowSeconds: 60,
      now: () => now,
    });
    expect((await Promise.all([1, 2, 3].map(() => limiter.hit('k')))).map((h) => h.allowed).sort()).toEqual([
      false,
      true,
      true,
    ]);
    now += 60_000;
    const again = await limiter.hit('k');
    expect(again).toEqual({ allowed: true, retryAfterSeconds: 60 });
    expect((await limiter.hit('k')).allowed).toBe(true);
    expect((await limiter.hit('k')).allowed).toBe(false);
  });
});
