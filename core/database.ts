import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Sequelize } from 'sequelize';
import { sqliteDriver } from './sqlite-driver.ts';
import { sqliteThreadDriver } from './sqlite-thread-connection.ts';

export interface DatabaseOptions {
  /** mysql://user:pass@host:port/db (MariaDB or MySQL); when absent, the SQLite file is used. */
  url: string | undefined;
  sqliteFile: string;
  /** At most this many connections to MariaDB at once (10 unless said); SQLite has one. */
  connections?: number;
}

export type Dialect = 'sqlite' | 'mysql';

/** Opens the unit's database and checks it answers; SQLite runs in WAL mode so several processes can share it. */
export async function openDatabase(options: DatabaseOptions): Promise<Sequelize> {
  const sequelize = options.url ? openMysql(options.url, options.connections ?? 10) : openSqlite(options.sqliteFile);
  await sequelize.authenticate();
  if (sequelize.getDialect() === 'sqlite') {
    await sequelize.query('PRAGMA journal_mode = WAL');
    await sequelize.query('PRAGMA foreign_keys = ON');
  }
  return sequelize;
}

function openMysql(url: string, connections: number): Sequelize {
  const parsed = new URL(url);
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
    throw new Error(`DATABASE_URL must start with mysql:// (got ${parsed.protocol}//)`);
  }
  parsed.protocol = 'mysql:';
  return new Sequelize(parsed.toString(), {
    dialect: 'mysql',
    logging: false,
    pool: { max: connections, min: 0, idle: 10_000 },
    dialectOptions: { charset: 'utf8mb4', supportBigNumbers: true, queryFormat: statementAsWritten },
    define: { charset: 'utf8mb4', collate: 'utf8mb4_unicode_ci' },
  });
}

/**
 * Sequelize hands mysql2 its statements finished (values written in, or bound through a prepared
 * statement), yet mysql2 scans each one for `?` placeholders to fill from an empty list: for a flush's
 * multi-row insert of thousands of rows that scan was about 1% of the node's CPU (bench/node profile).
 * Values to fill could only come from a caller going around Sequelize: refused, never sent unfilled.
 */
function statementAsWritten(sql: string, values: unknown): string {
  if (values !== undefined && values !== null && (!Array.isArray(values) || values.length > 0))
    throw new Error('statements are written in full by Sequelize; no values to fill in');
  return sql;
}

function openSqlite(file: string): Sequelize {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  // IMMEDIATE: a transaction takes the write lock when it begins, so two writers queue (the driver's
  // busy timeout) instead of one failing when it upgrades a read lock.
  const sequelize = new Sequelize({
    dialect: 'sqlite',
    dialectModule: sqliteDriver,
    storage: file,
    logging: false,
    transactionType: 'IMMEDIATE' as never,
  });
  return sequelize;
}

/**
 * Where a unit sends reads that may take long (a domain node's message search): on SQLite a second,
 * read-only Sequelize on the same file whose statements run on a thread of their own, since the unit's
 * own SQLite connection runs each statement on the main thread and would hold every request meanwhile;
 * on MariaDB the unit's own Sequelize, whose statements never held the thread. Close it with
 * closeLongReads. A read there sees what was committed before it began, as any other connection's.
 */
export async function openLongReads(options: DatabaseOptions, primary: Sequelize): Promise<Sequelize> {
  // In memory, another connection would open another database.
  if (primary.getDialect() !== 'sqlite' || options.sqliteFile === ':memory:' || options.sqliteFile === '')
    return primary;
  const reads = new Sequelize({
    dialect: 'sqlite',
    dialectModule: sqliteThreadDriver,
    storage: options.sqliteFile,
    logging: false,
  });
  // Statements outside a transaction share one connection (Sequelize's), which this makes refuse writes.
  await reads.query('PRAGMA query_only = ON');
  return reads;
}

export async function closeLongReads(reads: Sequelize, primary: Sequelize): Promise<void> {
  if (reads !== primary) await reads.close();
}

export function dialectOf(sequelize: Sequelize): Dialect {
  return sequelize.getDialect() === 'sqlite' ? 'sqlite' : 'mysql';
}

/** True when the database answers a trivial query; used by /readyz. */
export async function databaseReachable(sequelize: Sequelize): Promise<boolean> {
  try {
    await sequelize.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
