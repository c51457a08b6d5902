/**
 * The store of `bench:gateway`'s durable stand-in: oidc-provider's adapter contract over one table of a
 * database of its own, at the least any provider that persists its artefacts must do. Every method is one
 * plain statement in autocommit (an upsert, a SELECT that honours the expiry, an UPDATE of the consumed
 * mark, a DELETE by key or by grant); nothing is cached or kept in memory between calls. MariaDB through
 * a mysql2 pool of 10 (prepared statements), SQLite through one connection in WAL mode with SQLite's
 * default synchronous setting, its statements run one at a time on a thread of its own
 * (core/sqlite-thread-connection.ts), so that no commit's wait for the disk holds up the main thread.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import mysql from 'mysql2/promise';
import { BUSY_TIMEOUT } from '../../core/sqlite-driver.ts';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { ThreadConnection } from '../../core/sqlite-thread-connection.ts';

export type DurableStoreLocation = { url: string } | { file: string };

export type DurableStore = {
  adapter: (model: string) => Adapter;
  close(): Promise<void>;
};

type Value = string | number | null;
type Row = { payload: string; consumed_at: number | null };

/** What the store needs of a database: run a statement, read one row. */
type Connection = {
  run(sql: string, values: Value[]): Promise<void>;
  get(sql: string, values: Value[]): Promise<Row | undefined>;
  close(): Promise<void>;
};

const COLUMNS = ['payload', 'grant_id', 'uid', 'user_code', 'expires_at'];
const INSERT = `INSERT INTO oidc_store (model, id, ${COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?)`;

// Times are epoch milliseconds. The device flow is off in this configuration, so nothing is looked up by
// user code often enough to need an index; grants are revoked by grant_id and sessions found by uid.
const MARIADB = {
  create: `CREATE TABLE IF NOT EXISTS oidc_store (
    model VARCHAR(40) NOT NULL, id VARCHAR(255) NOT NULL, payload MEDIUMTEXT NOT NULL,
    grant_id VARCHAR(255) NULL, uid VARCHAR(255) NULL, user_code VARCHAR(255) NULL,
    expires_at BIGINT NULL, consumed_at BIGINT NULL,
    PRIMARY KEY (model, id), KEY oidc_store_grant_id (grant_id), KEY oidc_store_uid (uid)
  ) ENGINE = InnoDB`,
  upsert: `${INSERT} ON DUPLICATE KEY UPDATE ${COLUMNS.map((c) => `${c} = VALUES(${c})`).join(', ')}`,
};
const SQLITE = {
  create: [
    `CREATE TABLE IF NOT EXISTS oidc_store (
      model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL,
      grant_id TEXT, uid TEXT, user_code TEXT, expires_at INTEGER, consumed_at INTEGER,
      PRIMARY KEY (model, id)
    )`,
    'CREATE INDEX IF NOT EXISTS oidc_store_grant_id ON oidc_store (grant_id)',
    'CREATE INDEX IF NOT EXISTS oidc_store_uid ON oidc_store (uid)',
  ],
  upsert: `${INSERT} ON CONFLICT (model, id) DO UPDATE SET ${COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
};

async function openMariadb(url: string): Promise<Connection> {
  const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
  await pool.query(MARIADB.create);
  return {
    async run(sql, values) {
      await pool.execute(sql, values);
    },
    async get(sql, values) {
      const [rows] = await pool.execute(sql, values);
      return (rows as Row[])[0];
    },
    close: () => pool.end(),
  };
}

async function openSqlite(file: string): Promise<Connection> {
  mkdirSync(dirname(file), { recursive: true });
  const db = await ThreadConnection.open(file, BUSY_TIMEOUT);
  const connection: Connection = {
    run: (sql, values) => new Promise((resolve, reject) => db.run(sql, values, (e) => (e ? reject(e) : resolve()))),
    get: (sql, values) =>
      new Promise((resolve, reject) => db.all(sql, values, (e, rows) => (e ? reject(e) : resolve(rows[0] as Row)))),
    close: () => new Promise((resolve, reject) => db.close((e) => (e ? reject(e) : resolve()))),
  };
  await connection.get('PRAGMA journal_mode = WAL', []);
  for (const sql of SQLITE.create) await connection.run(sql, []);
  return connection;
}

/** `onStatement` hears each statement as `VERB oidc_store (Model)`, for the bench's statement counts. */
export async function openDurableStore(
  where: DurableStoreLocation,
  onStatement: (kind: string) => void = () => {},
): Promise<DurableStore> {
  const db = 'url' in where ? await openMariadb(where.url) : await openSqlite(where.file);
  const upsert = 'url' in where ? MARIADB.upsert : SQLITE.upsert;

  const find = async (model: string, column: 'id' | 'uid' | 'user_code', value: string) => {
    onStatement(`SELECT oidc_store (${model})`);
    const row = await db.get(
      `SELECT payload, consumed_at FROM oidc_store
       WHERE model = ? AND ${column} = ? AND (expires_at IS NULL OR expires_at > ?)`,
      [model, value, Date.now()],
    );
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    // The provider's consumed mark is in seconds.
    return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(Number(row.consumed_at) / 1000) };
  };

  class DurableAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      onStatement(`INSERT oidc_store (${this.model})`);
      await db.run(upsert, [
        this.model,
        id,
        JSON.stringify(payload),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expiresIn ? Date.now() + expiresIn * 1000 : null,
      ]);
    }

    find(id: string) {
      return find(this.model, 'id', id);
    }

    findByUid(uid: string) {
      return find(this.model, 'uid', uid);
    }

    findByUserCode(userCode: string) {
      return find(this.model, 'user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      onStatement(`UPDATE oidc_store (${this.model})`);
      await db.run('UPDATE oidc_store SET consumed_at = ? WHERE model = ? AND id = ?', [Date.now(), this.model, id]);
    }

    async destroy(id: string): Promise<void> {
      onStatement(`DELETE oidc_store (${this.model})`);
      await db.run('DELETE FROM oidc_store WHERE model = ? AND id = ?', [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      onStatement(`DELETE oidc_store (${this.model})`);
      await db.run('DELETE FROM oidc_store WHERE grant_id = ?', [grantId]);
    }
  }

  return { adapter: (model) => new DurableAdapter(model), close: () => db.close() };
}
