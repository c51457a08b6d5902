import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Sequelize } from 'sequelize';

/**
 * Reads of a SQLite database file answered at once, on the calling thread, by Node's own SQLite
 * (`node:sqlite`) over a read-only connection of their own. sqlite3, which Sequelize drives, runs every
 * statement on a thread of libuv's pool and answers on the main thread's next turn: a read by key costs
 * the main thread about 50 µs of hand-offs for about 10 µs of work, and waits behind whatever holds the
 * pool's four threads (RS256 signing, a group commit syncing the WAL). For the few reads on every token
 * request that was most of the gap to a provider keeping its tokens in memory.
 *
 * A read sees what was committed before it, as a read on any other connection in WAL mode does; never a
 * writer's open transaction. Writes stay with sqlite3: a COMMIT waits for the disk, which the main thread
 * must not.
 */
export type SqliteReads = {
  /** The rows one statement reads (prepared once), its `?` values bound in order. */
  all<T extends object>(sql: string, values: readonly unknown[]): T[];
};

/** A read connection per database handle; undefined where there is none to have (MariaDB, or SQLite in memory). */
export function sqliteReadsOf(sequelize: Sequelize): SqliteReads | undefined {
  if (sequelize.getDialect() !== 'sqlite') return undefined;
  const { storage } = (sequelize as unknown as { options: { storage?: string } }).options;
  // A database in memory is private to its one connection.
  if (!storage || storage === ':memory:') return undefined;
  let reads = perDatabase.get(sequelize);
  if (!reads) {
    reads = openReads(sequelize, storage);
    perDatabase.set(sequelize, reads);
  }
  return reads;
}

const perDatabase = new WeakMap<Sequelize, SqliteReads>();

// How long a read waits for a lock it cannot take (in WAL mode only while the WAL is being recovered or
// reset): at most this long on the main thread, then it fails.
const BUSY_TIMEOUT_MS = 1000;

function openReads(sequelize: Sequelize, storage: string): SqliteReads {
  let database: DatabaseSync | undefined;
  const prepared = new Map<string, StatementSync>();
  const open = () => {
    if (database) return database;
    const opened = new DatabaseSync(storage, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
    closedWith(sequelize, () => {
      opened.close();
      database = undefined;
      prepared.clear();
    });
    database = opened;
    return opened;
  };
  return {
    all<T extends object>(sql: string, values: readonly unknown[]) {
      const db = open();
      let statement = prepared.get(sql);
      if (!statement) {
        statement = db.prepare(sql);
        prepared.set(sql, statement);
      }
      return statement.all(...values.map(bound)) as T[];
    },
  };
}

/**
 * A value as sqlite3 binds it for Sequelize: dates as the UTC text Sequelize stores (which compares in
 * time order), booleans as 1 and 0, undefined as NULL.
 */
export function bound(value: unknown): SQLInputValue {
  if (value instanceof Date) return `${value.toISOString().replace('T', ' ').replace('Z', '')} +00:00`;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === undefined) return null;
  return value as SQLInputValue;
}

/**
 * Closes the read connection when Sequelize closes its own: it is listed with them, under a name of its
 * own, so `sequelize.close()` reaches it (and the file is left with no connection open). A read after
 * that opens it again, as Sequelize does its own.
 */
function closedWith(sequelize: Sequelize, close: () => void): void {
  const manager = sequelize.connectionManager as unknown as { connections: Record<string, Closable> };
  manager.connections[SYNC_READS] = {
    close(done) {
      delete manager.connections[SYNC_READS];
      close();
      done?.(null);
    },
  };
}

type Closable = { close(done?: (err: Error | null) => void): void };

const SYNC_READS = 'sqlite-sync-reads';
