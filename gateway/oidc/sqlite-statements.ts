import type { Sequelize } from 'sequelize';
import { BUSY_TIMEOUT } from '../../core/sqlite-driver.ts';
import { ThreadConnection, type GroupOutcome } from '../../core/sqlite-thread-connection.ts';
import { queryHooks, type OidcStatements, type QueryHooks, type Statement } from './statements.ts';

/** A value as Sequelize stores it in SQLite: dates as UTC text, which compares in time order. */
export function stored(value: unknown): unknown {
  if (!(value instanceof Date)) return value;
  return `${value.toISOString().replace('T', ' ').replace('Z', '')} +00:00`;
}

/** What the reads use of their SQLite connection (core/sqlite-driver.ts's) and its statements. */
type Prepared = {
  all(values: unknown[], done: (err: Error | null, rows: unknown[]) => void): void;
};
/** The writes' connection: a thread's, which commits a group in one call. */
type WritesConnection = Pick<ThreadConnection, 'commitGroup' | 'close'>;

type Connection = {
  prepare(sql: string, done: (err: Error | null) => void): Prepared;
};

type Manager = {
  getConnection(options: { uuid?: string }): Promise<Connection>;
  /** Sequelize's open connections by key, each closed with the database. */
  connections: Record<string, { close(done?: (err: Error | null) => void): void }>;
};

type Waiting = { statements: Statement[]; settle(err: Error | null, changed?: number[]): void };

/**
 * The provider's statements on SQLite. Every token request commits once or twice, each commit syncs the
 * WAL to disk, and on the one connection Sequelize shares every other statement queued behind each: the
 * gateway waited with a third of its main thread idle. Writes therefore go in group commits, as the
 * domain node's messages do: a write that finds none being committed is committed at once; those that
 * arrive meanwhile wait for that commit to end and then go together in the next one. Each request's
 * answer still waits for its own commit.
 *
 * The writes have a connection of their own, on a thread, so the reads see only what is committed; a
 * group's writes go to it in one call (commitGroup). The reads have one too, on the main thread, with each
 * statement prepared once.
 * Within a group each request's statements stand alone, as they would in autocommit: one that fails
 * fails its own request only. Sequelize closes both connections with the rest.
 */
export function sqliteStatements(sequelize: Sequelize): OidcStatements {
  const manager = sequelize.connectionManager as unknown as Manager;
  const storage = (sequelize as unknown as { options: { storage?: string } }).options.storage ?? ':memory:';
  let waiting: Waiting[] = [];
  let committing = false;

  function commitNext(): void {
    const group = waiting;
    waiting = [];
    committing = true;
    void commitGroup(manager, storage, queryHooks(sequelize), group).finally(() => {
      committing = false;
      if (waiting.length > 0) commitNext();
    });
  }

  return {
    async select<T extends object>(statement: Statement) {
      const hooks = queryHooks(sequelize);
      await hooks?.before(statement);
      const rows = await rowsOf<T>(await manager.getConnection({ uuid: READS }), statement);
      await hooks?.after(statement);
      return rows;
    },
    async write(statements) {
      const hooks = queryHooks(sequelize);
      if (hooks) for (const statement of statements) await hooks.before(statement);
      const changed = await new Promise<number[]>((resolve, reject) => {
        waiting.push({ statements, settle: (err, rows) => (err ? reject(err) : resolve(rows!)) });
        if (!committing) commitNext();
      });
      if (hooks) for (const statement of statements) await hooks.after(statement);
      return changed;
    },
  };
}

/**
 * One transaction for the group's statements, each request's in the order it gave them, in one call to
 * the writes' thread (ThreadConnection.commitGroup); each request settles after COMMIT. A request's
 * statement that fails ends its list: the ones after it do not run (a refresh token is not spent when
 * its successor could not be stored), and that request fails alone. The values are bound, not written
 * into the text, so any value goes; a call per statement waited for the main thread's next turn each time
 * (a group of fifty statements took 12–21 ms), and each call is a trip between threads, which wakes both.
 */
async function commitGroup(
  manager: Manager,
  storage: string,
  hooks: QueryHooks | undefined,
  group: Waiting[],
): Promise<void> {
  let outcomes: GroupOutcome[];
  try {
    const connection = await writesConnection(manager, storage);
    await hooks?.before(BEGIN);
    await hooks?.before(COMMIT);
    outcomes = await connection.commitGroup(
      group.map((entry) => entry.statements.map(({ sql, values }) => ({ sql, values: values.map(stored) }))),
    );
  } catch (err) {
    for (const entry of group) entry.settle(err as Error);
    return;
  }
  // Committed: whatever the hooks say now, each request is told it was.
  await hooks?.after(BEGIN).catch(() => undefined);
  await hooks?.after(COMMIT).catch(() => undefined);
  group.forEach((entry, i) => {
    const { changed, error } = outcomes[i]!;
    entry.settle(error, changed);
  });
}

// What the hooks hear of a group's transaction (bench:gateway counts statements by them).
const BEGIN: Statement = { sql: 'BEGIN IMMEDIATE', values: [] };
const COMMIT: Statement = { sql: 'COMMIT', values: [] };

/** The rows one statement (prepared once per connection) reads. */
async function rowsOf<T>(connection: Connection, { sql, values }: Statement): Promise<T[]> {
  const prepared = await preparedOn(connection, sql);
  return new Promise((resolve, reject) => {
    prepared.all(values.map(stored), (err, found) => (err ? reject(err) : resolve(found as T[])));
  });
}

// The store sends a dozen different statements, each prepared once per connection: preparing one
// anew for every run took as much CPU as running it.
const preparedStatements = new WeakMap<Connection, Map<string, Promise<Prepared>>>();

function preparedOn(connection: Connection, sql: string): Promise<Prepared> {
  let statements = preparedStatements.get(connection);
  if (!statements) {
    statements = new Map();
    preparedStatements.set(connection, statements);
  }
  let prepared = statements.get(sql);
  if (!prepared) {
    prepared = new Promise((resolve, reject) => {
      const statement = connection.prepare(sql, (err) => (err ? reject(err) : resolve(statement)));
    });
    statements.set(sql, prepared);
    prepared.catch(() => statements.delete(sql));
  }
  return prepared;
}

const opening = new WeakMap<Manager, Promise<WritesConnection>>();

/**
 * The writes' connection, on a thread of its own (ThreadConnection): each commit waits for the disk, and
 * on the main thread that wait held up every request meanwhile (refresh grants fell by a third). Kept
 * among Sequelize's connections, which closes it with the rest.
 */
function writesConnection(manager: Manager, storage: string): Promise<WritesConnection> {
  let connection = opening.get(manager);
  if (!connection) {
    connection = ThreadConnection.open(storage, BUSY_TIMEOUT).then((opened) => {
      manager.connections[WRITES] = opened;
      return opened;
    });
    opening.set(manager, connection);
    connection.catch(() => opening.delete(manager));
  }
  return connection;
}

// Sequelize's name for the writes' own connection (it keeps and closes its connections by this key).
const WRITES = 'oidc-store-writes';
const READS = 'oidc-store-reads';
