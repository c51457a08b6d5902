import { statSync } from 'node:fs';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

/**
 * SQLite for Sequelize (its `dialectModule`) and the gateway's store, on Node's own `node:sqlite`: the
 * part of sqlite3's callback API they use. Every statement runs at once on the calling thread; a
 * key lookup costs about 10 µs so, where sqlite3 sent each statement to a thread of libuv's pool and
 * back (about 50 µs of the main thread, and a wait behind every RS256 signature using the same pool).
 * It also keeps one SQLite in the process: two copies (sqlite3's and Node's) miss each other's locks on
 * a file both open, and readers saw transactions half done (biome.json says more).
 *
 * A connection never waits for a lock inside SQLite: the other writer may be a transaction of this very
 * thread, open across an `await`, which could then never end. A statement refused as busy waits here
 * instead, without holding the thread, and runs again when another connection's statement has run or a
 * short timer fires (a writer in another process), until the connection's busy timeout. Each
 * connection keeps its statements in the order given, a waiting one holding back those after it.
 */

/** How long a SQLite writer waits for another's lock before it fails, in ms, unless configured. */
export const BUSY_TIMEOUT = 10_000;

/** sqlite3's flags for opening a file, as Sequelize passes them. */
export const OPEN_READONLY = 0x1;
export const OPEN_READWRITE = 0x2;
export const OPEN_CREATE = 0x4;

type Value = SQLInputValue | boolean | Date | undefined;
export type Values = Value[] | Record<string, Value>;
type Callback<T = unknown> = (this: RunResult, err: Error | null, result?: T) => void;

/**
 * What a statement's callback sees as `this`, named as sqlite3 names it: Sequelize gives a bulk insert's
 * rows their ids only when the class is called `Statement` (test/core/sqlite-driver.test.ts pins it).
 */
export class Statement {
  lastID = 0;
  changes = 0;
  readonly #connection: Database;
  readonly #sql: string;
  #prepared: StatementSync | undefined;

  constructor(connection: Database, sql: string) {
    this.#connection = connection;
    this.#sql = sql;
  }

  /** The statement compiled, once; a statement is compiled when first run, as it can fail only then. */
  compiled(): StatementSync {
    // Asked every time: after its connection closes, the handle may serve another connection.
    const db = this.#connection.handle();
    this.#prepared ??= db.prepare(this.#sql);
    return this.#prepared;
  }

  run(...args: unknown[]): this {
    const [values, done] = parsed(args);
    this.#connection.enqueue(
      () => {
        const result = this.compiled().run(...bound(values));
        this.lastID = Number(result.lastInsertRowid);
        this.changes = Number(result.changes);
        return undefined;
      },
      done,
      this,
    );
    return this;
  }

  all(...args: unknown[]): this {
    const [values, done] = parsed(args);
    this.#connection.enqueue(
      () =>
        this.compiled()
          .all(...bound(values))
          .map(plain),
      done,
      this,
    );
    return this;
  }

  finalize(done?: (err: Error | null) => void): void {
    this.#prepared = undefined;
    if (done) queueMicrotask(() => done(null));
  }
}

type RunResult = Statement;

type Operation = {
  work: () => unknown;
  done: Callback | undefined;
  self: RunResult;
  until?: number;
};

/**
 * Handles of connections closed, kept a while for the next connection to the same file: Sequelize opens
 * one per transaction, and opening one costs about 0.3 ms of the thread (the file, then the schema read
 * at its first statement) against 10 µs for a statement. Only a handle with no transaction open is kept,
 * and one whose file was replaced since (the same name, another inode) is closed, never reused.
 */
type IdleHandle = { db: DatabaseSync; inode: number; expiry: NodeJS.Timeout };
const idleHandles = new Map<string, IdleHandle[]>();
const IDLE_HANDLES_PER_FILE = 4;
const IDLE_HANDLE_MS = 30_000;

function inodeOf(filename: string): number | undefined {
  try {
    return statSync(filename).ino;
  } catch {
    return undefined;
  }
}

function reusedHandle(key: string, filename: string): DatabaseSync | undefined {
  const handles = idleHandles.get(key);
  if (!handles?.length) return undefined;
  const inode = inodeOf(filename);
  for (let idle = handles.pop(); idle; idle = handles.pop()) {
    clearTimeout(idle.expiry);
    if (idle.inode === inode) return idle.db;
    idle.db.close();
  }
  return undefined;
}

function releaseHandle(key: string, filename: string, db: DatabaseSync): void {
  const handles = idleHandles.get(key) ?? [];
  const inode = filename === ':memory:' || filename === '' ? undefined : inodeOf(filename);
  if (inode === undefined || db.isTransaction || handles.length >= IDLE_HANDLES_PER_FILE) {
    db.close();
    return;
  }
  const idle: IdleHandle = {
    db,
    inode,
    expiry: setTimeout(() => {
      handles.splice(handles.indexOf(idle), 1);
      db.close();
    }, IDLE_HANDLE_MS).unref(),
  };
  handles.push(idle);
  idleHandles.set(key, handles);
}

/** Connections with a statement waiting for another writer, woken after any other connection's statement. */
const waiting = new Set<Database>();
let wakeScheduled = false;

function wakeWaiting(): void {
  if (wakeScheduled || waiting.size === 0) return;
  wakeScheduled = true;
  setImmediate(() => {
    wakeScheduled = false;
    for (const connection of [...waiting]) connection.drain();
  });
}

export class Database {
  readonly filename: string;
  #db: DatabaseSync | undefined;
  #queue: Operation[] = [];
  #busyTimeout = BUSY_TIMEOUT;
  #retry: NodeJS.Timeout | undefined;
  #retryDelay = 1;
  readonly #poolKey: string;

  constructor(filename: string, mode?: number | ((err: Error | null) => void), done?: (err: Error | null) => void) {
    if (typeof mode === 'function') {
      done = mode;
      mode = undefined;
    }
    const flags = mode ?? OPEN_READWRITE | OPEN_CREATE;
    this.filename = filename;
    this.#poolKey = `${flags} ${filename}`;
    let failure: Error | null = null;
    try {
      this.#db =
        reusedHandle(this.#poolKey, filename) ??
        new DatabaseSync(filename, {
          readOnly: (flags & OPEN_READWRITE) === 0,
          // As sqlite3 builds SQLite: double-quoted text that names no column is a string.
          enableDoubleQuotedStringLiterals: true,
          timeout: 0,
        });
    } catch (err) {
      failure = sqliteError(err);
    }
    if (done) {
      const callback = done;
      queueMicrotask(() => callback.call(undefined as never, failure));
    } else if (failure) {
      throw failure;
    }
  }

  /** The open connection; a statement after close fails as sqlite3's does. */
  handle(): DatabaseSync {
    if (!this.#db)
      throw Object.assign(new Error('SQLITE_MISUSE: Database is closed'), { code: 'SQLITE_MISUSE', errno: 21 });
    return this.#db;
  }

  configure(option: string, value: number): void {
    if (option === 'busyTimeout') this.#busyTimeout = value;
  }

  serialize(then?: () => void): void {
    then?.();
  }

  run(sql: string, ...args: unknown[]): this {
    new Statement(this, sql).run(...args);
    return this;
  }

  all(sql: string, ...args: unknown[]): this {
    new Statement(this, sql).all(...args);
    return this;
  }

  prepare(sql: string, ...args: unknown[]): Statement {
    const statement = new Statement(this, sql);
    const [, done] = parsed(args);
    // sqlite3 compiles the statement here and reports a mistake to this callback.
    this.enqueue(() => void statement.compiled(), done, statement);
    return statement;
  }

  close(done?: (err: Error | null) => void): void {
    this.enqueue(
      () => {
        if (this.#db) releaseHandle(this.#poolKey, this.filename, this.#db);
        this.#db = undefined;
        waiting.delete(this);
      },
      done as Callback | undefined,
      new Statement(this, ''),
    );
  }

  /** Queues one operation and runs what can run now. */
  enqueue(work: () => unknown, done: Callback | undefined, self: RunResult): void {
    this.#queue.push({ work, done, self });
    if (this.#queue.length === 1) this.drain();
  }

  /** Runs the queued operations in order, up to one refused as busy (which waits for its next chance). */
  drain(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    waiting.delete(this);
    let ran = false;
    while (this.#queue.length > 0) {
      const operation = this.#queue[0]!;
      let result: unknown;
      let failure: Error | null = null;
      try {
        result = operation.work();
      } catch (err) {
        failure = sqliteError(err);
      }
      if (failure && this.#mayRunAgain(failure, operation)) {
        this.#wait(operation);
        break;
      }
      // Only a statement that ran may have let go of a lock: one refused again wakes nobody, itself
      // included, or a waiting connection would try again at every turn of the event loop.
      ran = true;
      this.#queue.shift();
      this.#retryDelay = 1;
      const { done, self } = operation;
      if (done) queueMicrotask(() => done.call(self, failure, result));
      else if (failure) queueMicrotask(() => this.#unreported(failure));
    }
    if (ran) wakeWaiting();
  }

  #mayRunAgain(failure: Error, operation: Operation): boolean {
    const code = (failure as { errcode?: number }).errcode;
    // SQLITE_BUSY and SQLITE_BUSY_RECOVERY; never SQLITE_BUSY_SNAPSHOT, which no wait can mend.
    if (code !== 5 && code !== 261) return false;
    operation.until ??= Date.now() + this.#busyTimeout;
    // One statement refused stands undone (SQLite undoes just it), so it can simply run again.
    return Date.now() < operation.until;
  }

  #wait(operation: Operation): void {
    waiting.add(this);
    const delay = Math.min(this.#retryDelay, Math.max(1, operation.until! - Date.now()));
    this.#retryDelay = Math.min(this.#retryDelay * 2, 20);
    this.#retry = setTimeout(() => this.drain(), delay);
  }

  /** sqlite3 emits an error nobody asked to hear on the connection; nothing listens, so it is thrown. */
  #unreported(failure: Error): never {
    throw failure;
  }
}

/** The values and callback of a call (sql, values?, callback?), as sqlite3 takes them. */
export function parsed(args: unknown[]): [Values | undefined, Callback | undefined] {
  const done = typeof args.at(-1) === 'function' ? (args.pop() as Callback) : undefined;
  if (args.length === 0) return [undefined, done];
  const [first] = args;
  if (
    args.length === 1 &&
    first !== null &&
    typeof first === 'object' &&
    !(first instanceof Date) &&
    !ArrayBuffer.isView(first)
  ) {
    return [args[0] as Values, done];
  }
  return [args as Value[], done];
}

/**
 * Values as node:sqlite binds them, converted as sqlite3 converts them: a list, or one object of named
 * values (which node:sqlite takes as its first argument; typed as a value to spread either way).
 */
export function bound(values: Values | undefined): SQLInputValue[] {
  if (values === undefined) return [];
  if (Array.isArray(values)) return values.map(bindable);
  const named: Record<string, SQLInputValue> = {};
  for (const key of Object.keys(values)) named[key] = bindable(values[key]);
  return [named as unknown as SQLInputValue];
}

function bindable(value: Value): SQLInputValue {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  return value;
}

/** Rows come with no prototype; callers expect plain objects. */
function plain(row: object): Record<string, unknown> {
  return { ...row };
}

const PRIMARY_CODES = [
  'OK',
  'ERROR',
  'INTERNAL',
  'PERM',
  'ABORT',
  'BUSY',
  'LOCKED',
  'NOMEM',
  'READONLY',
  'INTERRUPT',
  'IOERR',
  'CORRUPT',
  'NOTFOUND',
  'FULL',
  'CANTOPEN',
  'PROTOCOL',
  'EMPTY',
  'SCHEMA',
  'TOOBIG',
  'CONSTRAINT',
  'MISMATCH',
  'MISUSE',
  'NOLFS',
  'AUTH',
  'FORMAT',
  'RANGE',
  'NOTADB',
];

/**
 * An error as sqlite3 reports it: `code` 'SQLITE_CONSTRAINT' and the like (Sequelize maps these to its
 * own errors), the message led by that code. node:sqlite's extended code stays in `errcode`.
 */
export function sqliteError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const errcode = (err as { errcode?: unknown }).errcode;
  if (typeof errcode !== 'number') return err;
  const name = `SQLITE_${PRIMARY_CODES[errcode & 0xff] ?? 'ERROR'}`;
  return Object.assign(new Error(`${name}: ${err.message}`), { code: name, errno: errcode & 0xff, errcode });
}

/** The version of SQLite in this process (node:sqlite's), as `3.50.4`. */
export function sqliteVersion(): string {
  const db = new DatabaseSync(':memory:');
  try {
    return String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v);
  } finally {
    db.close();
  }
}

/** The module as Sequelize loads a dialect's driver. */
export const sqliteDriver = {
  Database,
  Statement,
  OPEN_READONLY,
  OPEN_READWRITE,
  OPEN_CREATE,
  verbose() {
    return sqliteDriver;
  },
};
