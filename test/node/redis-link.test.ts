import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SetupError } from '../../core/errors.ts';
import { createRedisLink, redisWhere } from '../../node/bus/redis-link.ts';
import { silentServer } from '../helpers/broken-servers.ts';

describe('the link of a process to Redis', () => {
  it('gives up a start on a peer that never answers, naming where without the password', async () => {
    const silent = await silentServer();
    const { port } = new URL(silent.url);
    try {
      const link = createRedisLink(`redis://atrium:hunter2@127.0.0.1:${port}`, pino({ level: 'silent' }), {
        startDeadlineMs: 200,
      });
      const failed = await link.connect().catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(SetupError);
      expect(failed).toMatchObject({
        code: 'redis_unavailable',
        message: `Cannot open Redis at REDIS_URL redis://atrium@127.0.0.1:${port}: no answer within 0.2 s`,
      });
    } finally {
      await silent.close();
    }
  });

  it('shows REDIS_URL without its password', () => {
    expect(redisWhere('rediss://chat:s3cret@redis.campus.test:6380/2')).toBe('rediss://chat@redis.campus.test:6380/2');
    expect(redisWhere('redis://:s3cret@127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
