import { Redis, type RedisOptions } from 'ioredis';
import { SetupError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** How long a start waits for Redis to answer; ioredis alone would try again for good. */
const START_DEADLINE_MS = 10_000;

/**
 * The connections of one process to the domain's Redis, watched together: an outage is one warning and
 * its end one info line (ioredis alone prints a line to stderr at every try to reconnect), `/readyz` asks
 * `up()`, and what the processes missed of each other meanwhile is made up for through `onBack`.
 */
export interface RedisLink {
  /** Where Redis is, as logs and messages may show it: REDIS_URL without its password. */
  readonly where: string;
  /** A new connection, answering; one that cannot be opened fails the start with a SetupError. */
  connect(options?: RedisOptions): Promise<Redis>;
  /** Every connection answers (none is reconnecting). */
  up(): boolean;
  /** Called each time every connection answers again after an outage. */
  onBack(listener: () => void): void;
  /** Closes one connection: politely when it answers, at once when not (a quit would wait for Redis). */
  close(client: Redis): Promise<void>;
  /** Drops every connection at once, for a start that failed; a running unit's owners close their own. */
  disconnect(): void;
}

/** REDIS_URL without its password, as the database's URL is shown (cli/session.ts). */
export function redisWhere(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'REDIS_URL';
  }
}

/** Why a connection failed, in words: a peer that is not Redis is named so rather than by the parser's byte. */
function reasonOf(error: Error): string {
  if (error.name === 'ParserError') return 'what answers there does not speak the Redis protocol';
  return error.message;
}

export function createRedisLink(url: string, logger: Logger, options: { startDeadlineMs?: number } = {}): RedisLink {
  const where = redisWhere(url);
  const deadlineMs = options.startDeadlineMs ?? START_DEADLINE_MS;
  const all = new Set<Redis>();
  // Watched from their first answer on; until then a failure is the start's, not an outage.
  const watched = new Set<Redis>();
  const listeners: (() => void)[] = [];
  let down = false;
  let lastError: Error | undefined;
  // Once the unit closes its connections, their ends are no outage and their tries no news.
  let closing = false;

  // A connection its owner quit has ended: no outage.
  const answering = (client: Redis) => client.status === 'ready' || client.status === 'end';

  function follow(): void {
    if (closing) return;
    const upNow = [...watched].every(answering);
    if (!down && !upNow) {
      down = true;
      logger.warn(
        { redis: where, reason: lastError ? reasonOf(lastError) : 'the connection closed' },
        "Redis does not answer: this process hears nothing of the domain's other processes until it does",
      );
    } else if (down && upNow) {
      down = false;
      lastError = undefined;
      logger.info({ redis: where }, 'Redis answers again');
      for (const listener of listeners) listener();
    }
  }

  async function opened(client: Redis): Promise<void> {
    // The first failure says why; what follows it (the socket reset, "Connection is closed.") does not.
    let first: Error | undefined;
    const onError = (error: Error) => {
      first ??= error;
    };
    client.on('error', onError);
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`no answer within ${deadlineMs / 1000} s`)), deadlineMs);
    });
    try {
      await Promise.race([client.connect(), late]);
    } catch (error) {
      client.disconnect();
      const reason = reasonOf(first ?? (error as Error));
      throw new SetupError('redis_unavailable', `Cannot open Redis at REDIS_URL ${where}: ${reason}`);
    } finally {
      clearTimeout(deadline);
      client.off('error', onError);
    }
  }

  return {
    where,
    async connect(extra = {}) {
      const client = new Redis(url, { lazyConnect: true, ...extra });
      all.add(client);
      client.on('error', (error: Error) => {
        lastError = error;
        follow();
      });
      for (const event of ['ready', 'close', 'reconnecting', 'end']) client.on(event, () => follow());
      await opened(client);
      watched.add(client);
      return client;
    },
    up: () => !down && [...watched].every(answering),
    onBack(listener) {
      listeners.push(listener);
    },
    async close(client) {
      closing = true;
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
    disconnect() {
      closing = true;
      for (const client of all) client.disconnect();
    },
  };
}
