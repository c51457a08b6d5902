import { Worker } from 'node:worker_threads';
import {
  BUSY_TIMEOUT,
  OPEN_CREATE,
  OPEN_READONLY,
  OPEN_READWRITE,
  bound,
  parsed,
  sqliteError,
  type Values,
} from './sqlite-driver.ts';

export type ThreadRequest =
  | { id: number; op: 'close'; sql: string; values?: undefined }
  | { id: number; op: 'run' | 'all'; sql: string; values: unknown[] }
  | {
      id: number;
      op: 'commit-group';
      lists: { sql: string; values: unknown[] }[][];
      sql?: undefined;
      values?: undefined;
    };

export type ThreadReply = {
  id: number;
  error?: { message: string; errcode: number | undefined };
  rows?: unknown[];
  changes?: number;
  lastID?: number;
  /** A commit-group's lists, in order: the rows each statement run changed, and the failure that ended it. */
  outcomes?: { changed: number[]; error?: { message: string; errcode: number | undefined } }[];
};

/** One list of statements in a committed group: the rows each changed, up to the one that failed. */
export type GroupOutcome = { changed: number[]; error: Error | null };

type Done = (reply: ThreadReply) => void;

/**
 * A connection to a SQLite file whose statements run on a thread of its own, with sqlite3's callback
 * calls. For a connection that commits: a commit waits for the disk, and on the main thread (Database in
 * sqlite-driver.ts) that wait would hold up every request meanwhile. Unlike sqlite3, which sent each
 * statement to libuv's pool of four, the thread is this connection's alone: its statements never queue
 * behind the RS256 signatures and password hashes that pool also runs. Same SQLite as the main thread's
 * connections (node:sqlite), so they see each other's locks.
 */
export class ThreadConnection {
  readonly filename: string;
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Done>();
  #next = 1;
  #closed: Promise<void> | undefined;
  #stopped: Error | undefined;

  private constructor(file: string, worker: Worker) {
    this.filename = file;
    this.#worker = worker;
    worker.on('message', (reply: ThreadReply) => {
      const done = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      done?.(reply);
    });
    worker.on('error', (err) => this.#stop(err));
    worker.on('exit', () => this.#stop(new Error('the SQLite thread stopped')));
  }

  /** Opens `file` on a new thread; a writer waits up to `busyTimeout` ms for another's lock. */
  static open(file: string, busyTimeout: number): Promise<ThreadConnection> {
    const worker = new Worker(new URL('./sqlite-thread.ts', import.meta.url), { workerData: { file, busyTimeout } });
    const connection = new ThreadConnection(file, worker);
    return new Promise((resolve, reject) => {
      connection.#waiting.set(0, (reply) => {
        if (!reply.error) return resolve(connection);
        void worker.terminate();
        reject(errorOf(reply));
      });
    });
  }

  run(sql: string, values: Values, done: (this: { changes: number; lastID: number }, err: Error | null) => void): void {
    this.#send({ op: 'run', sql, values: bound(values) }, (reply) =>
      done.call({ changes: reply.changes ?? 0, lastID: reply.lastID ?? 0 }, errorOf(reply)),
    );
  }

  all(sql: string, values: Values, done: (err: Error | null, rows: unknown[]) => void): void {
    this.#send({ op: 'all', sql, values: bound(values) }, (reply) => done(errorOf(reply), reply.rows ?? []));
  }

  /**
   * Runs lists of statements in one transaction and commits it, in one trip to the thread. Each list runs
   * in order up to its first statement that fails, which fails that list alone. Rejects, with nothing
   * kept, when the transaction cannot begin or commit or SQLite ends it on a failure.
   */
  commitGroup(lists: { sql: string; values: unknown[] }[][]): Promise<GroupOutcome[]> {
    const sent = lists.map((list) => list.map(({ sql, values }) => ({ sql, values: bound(values as Values) })));
    return new Promise((resolve, reject) =>
      this.#send({ op: 'commit-group', lists: sent }, (reply) => {
        const error = errorOf(reply);
        if (error) return reject(error);
        resolve(
          (reply.outcomes ?? []).map(({ changed, error: failed }) => ({
            changed,
            error: failed ? errorOf({ id: reply.id, error: failed }) : null,
          })),
        );
      }),
    );
  }

  /** Closes the connection after the statements sent before, and ends its thread. */
  close(done?: (err: Error | null) => void): void {
    this.#closed ??= new Promise<void>((resolve) => this.#send({ op: 'close', sql: '' }, () => resolve())).then(() =>
      this.#worker.terminate().then(() => undefined),
    );
    void this.#closed.then(() => done?.(null));
  }

  #send(request: DistributiveOmit<ThreadRequest, 'id'>, done: Done): void {
    const refusal =
      (this.#closed && request.op !== 'close' ? 'Database is closed' : undefined) ?? this.#stopped?.message;
    if (refusal) {
      queueMicrotask(() => done({ id: 0, error: { message: refusal, errcode: 21 } }));
      return;
    }
    const id = this.#next++;
    this.#waiting.set(id, done);
    if (this.#waiting.size === 1) this.#worker.ref();
    this.#worker.postMessage({ ...request, id });
  }

  /** The thread ended (closed, or failed): what waits for it fails, and so does whatever is sent after. */
  #stop(err: Error): void {
    this.#stopped ??= err;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const done of waiting) done({ id: 0, error: { message: err.message, errcode: undefined } });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function errorOf(reply: ThreadReply): Error | null {
  if (!reply.error) return null;
  return sqliteError(Object.assign(new Error(reply.error.message), { errcode: reply.error.errcode }));
}

/**
 * sqlite3's Database as Sequelize's SQLite dialect uses it (open, run, all, serialize, close), over a
 * ThreadConnection: for a Sequelize whose statements must not hold the main thread while they run, as a
 * domain node's long reads (core/database.ts, openLongReads). Statements run one after another, in the
 * order they are sent.
 */
class ThreadDatabase {
  readonly filename: string;
  readonly #connection: Promise<ThreadConnection>;

  constructor(filename: string, mode?: number | ((err: Error | null) => void), done?: (err: Error | null) => void) {
    const opened = typeof mode === 'function' ? mode : done;
    this.filename = filename;
    this.#connection = ThreadConnection.open(filename, BUSY_TIMEOUT);
    this.#connection.then(
      () => opened?.(null),
      (err: Error) => opened?.(err),
    );
  }

  configure(): void {}

  serialize(then?: () => void): void {
    then?.();
  }

  run(sql: string, ...args: unknown[]): this {
    const [values, done] = parsed(args);
    this.#connection.then(
      (connection) =>
        connection.run(sql, values ?? [], function (err) {
          done?.call(this as never, err);
        }),
      (err: Error) => done?.call(undefined as never, err),
    );
    return this;
  }

  all(sql: string, ...args: unknown[]): this {
    const [values, done] = parsed(args);
    this.#connection.then(
      (connection) => connection.all(sql, values ?? [], (err, rows) => done?.call(undefined as never, err, rows)),
      (err: Error) => done?.call(undefined as never, err),
    );
    return this;
  }

  close(done?: (err: Error | null) => void): void {
    this.#connection.then(
      (connection) => connection.close(done),
      () => done?.(null),
    );
  }
}

/** The module handed to Sequelize as its SQLite `dialectModule` for a connection on a thread of its own. */
export const sqliteThreadDriver = {
  Database: ThreadDatabase,
  OPEN_READONLY,
  OPEN_READWRITE,
  OPEN_CREATE,
  verbose() {
    return sqliteThreadDriver;
  },
};
