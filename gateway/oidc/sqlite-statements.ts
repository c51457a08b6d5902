import type { Sequelize } from 'sequelize';
import { queryHooks, type OidcStatements, type QueryHooks, type Statement } from './statements.ts';

/** What this module uses of a sqlite3 connection. */
type Connection = {
  all(sql: string, values: unknown[], done: (err: Error | null, rows: unknown[]) => void): void;
  run(sql: string, values: unknown[], done: (this: { changes: number }, err: Error | null) => void): void;
  serialize(queue?: () => void): void;
};

type Manager = { getConnection(options: { uuid?: string }): Promise<Connection> };

type Waiting = { statements: Statement[]; settle(err: Error | null, changed?: number[]): void };

/**
 * The provider's statements on SQLite. Every token request commits once or twice, each commit syncs the
 * WAL to disk, and on the one connection Sequelize shares every other statement queued behind each: the
 * gateway waited with a third of its main thread idle. Writes therefore go in group commits, as the domain node's messages do: a write that
 * finds none being committed is committed at once; those that arrive meanwhile wait for that commit to
 * end and then go together in the next one. Each request's answer still waits for its own commit.
 *
 * The writes have a connection of their own, so the reads see only what is committed. The reads have
 * one too, which sends them one at a time: sent together, each would hold one of libuv's few worker
 * threads (which also sign the tokens) while it waits for the connection, which runs one at a time
 * anyway. Within a group each request's statements stand alone, as they would in autocommit: one
 * that fails fails its own request only. Sequelize closes both connections with the rest.
 */
export function sqliteStatements(sequelize: Sequelize): OidcStatements {
  const manager = sequelize.connectionManager as unknown as Manager;
  let waiting: Waiting[] = [];
  let committing = false;
  const serialized = new WeakSet<Connection>();

  async function readsConnection(): Promise<Connection> {
    const connection = await manager.getConnection({ uuid: READS });
    if (!serialized.has(connection)) {
      connection.serialize();
      serialized.add(connection);
    }
    return connection;
  }

  function commitNext(): void {
    const group = waiting;
    waiting = [];
    committing = true;
    void commitGroup(manager, queryHooks(sequelize), group).finally(() => {
      committing = false;
      if (waiting.length > 0) commitNext();
    });
  }

  return {
    async select<T extends object>(statement: Statement) {
      const hooks = queryHooks(sequelize);
      await hooks?.before(statement);
      const connection = await readsConnection();
      const rows = await new Promise<T[]>((resolve, reject) => {
        const values = statement.values.map(stored);
        connection.all(statement.sql, values, (err, found) => (err ? reject(err) : resolve(found as T[])));
      });
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
 * One transaction for the group's statements, in the order they came; each settles after COMMIT. The
 * statements are queued only once BEGIN has succeeded: queued after a failed one, each would commit
 * on its own while its request was told it failed.
 */
async function commitGroup(manager: Manager, hooks: QueryHooks | undefined, group: Waiting[]): Promise<void> {
  const failAll = (err: Error) => {
    for (const entry of group) entry.settle(err);
  };
  let connection: Connection;
  try {
    connection = await manager.getConnection({ uuid: WRITES });
    await hooks?.before(BEGIN);
    await run(connection, BEGIN.sql);
    await hooks?.after(BEGIN);
  } catch (err) {
    failAll(err as Error);
    return;
  }
  try {
    await hooks?.before(COMMIT);
  } catch (err) {
    await run(connection, 'ROLLBACK').catch(() => undefined);
    failAll(err as Error);
    return;
  }
  const outcomes = group.map(() => ({ changed: [] as number[], err: null as Error | null }));
  const committed = new Promise<Error | null>((resolve) => {
    connection.serialize(() => {
      group.forEach((entry, i) => {
        const outcome = outcomes[i]!;
        for (const { sql, values } of entry.statements) {
          connection.run(sql, values.map(stored), function (this: { changes: number }, err) {
            if (err) outcome.err ??= err;
            outcome.changed.push(err ? 0 : this.changes);
          });
        }
      });
      connection.run(COMMIT.sql, [], (err) => resolve(err));
    });
  });
  const failed = await committed;
  if (failed) {
    await run(connection, 'ROLLBACK').catch(() => undefined);
    failAll(failed);
    return;
  }
  await hooks?.after(COMMIT).catch(() => undefined);
  group.forEach((entry, i) => {
    const { changed, err } = outcomes[i]!;
    entry.settle(err, changed);
  });
}

const BEGIN: Statement = { sql: 'BEGIN IMMEDIATE', values: [] };
const COMMIT: Statement = { sql: 'COMMIT', values: [] };

function run(connection: Connection, sql: string): Promise<void> {
  return new Promise((resolve, reject) => connection.run(sql, [], (err) => (err ? reject(err) : resolve())));
}

// Sequelize's name for the writes' own connection (it keeps and closes its connections by this key).
const WRITES = 'oidc-store-writes';
const READS = 'oidc-store-reads';

/** A value as Sequelize stores it in SQLite: dates as UTC text, which compares in time order. */
export function stored(value: unknown): unknown {
  if (!(value instanceof Date)) return value;
  return `${value.toISOString().replace('T', ' ').replace('Z', '')} +00:00`;
}
