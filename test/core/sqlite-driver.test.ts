import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataTypes, QueryTypes, UniqueConstraintError, type Sequelize } from 'sequelize';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeLongReads, openDatabase, openLongReads } from '../../core/database.ts';
import { Database } from '../../core/sqlite-driver.ts';
import { ThreadConnection } from '../../core/sqlite-thread-connection.ts';
import { testDialect } from '../helpers/database.ts';

let dir: string;
let file: string;
let sequelize: Sequelize;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atrium-sqlite-driver-'));
  file = join(dir, 'unit.sqlite');
  sequelize = await openDatabase({ url: undefined, sqliteFile: file });
  await sequelize.query('CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)');
});

afterEach(async () => {
  await sequelize.close();
  rmSync(dir, { recursive: true, force: true });
});

const balances = async () =>
  sequelize.query<{ name: string; balance: number }>('SELECT name, balance FROM accounts ORDER BY name', {
    type: QueryTypes.SELECT,
  });

const run = (connection: Database | ThreadConnection, sql: string, values: unknown[] = []) =>
  new Promise<void>((resolve, reject) =>
    connection.run(sql, values as never, (err) => (err ? reject(err) : resolve())),
  );

describe.runIf(testDialect === 'sqlite')('SQLite in the process', () => {
  it("lets a write wait for another connection's transaction, and runs it once that commits", async () => {
    const transaction = await sequelize.transaction();
    await sequelize.query("INSERT INTO accounts VALUES ('ada', 10)", { transaction });
    let written = false;
    const meanwhile = sequelize.query("INSERT INTO accounts VALUES ('bo', 5)").then(() => {
      written = true;
    });
    // The transaction's owner goes on working while the other write waits: a wait inside SQLite would
    // hold this very thread, and the transaction could never end.
    await sleep(100);
    expect(written).toBe(false);
    await sequelize.query("UPDATE accounts SET balance = 11 WHERE name = 'ada'", { transaction });
    await transaction.commit();
    await meanwhile;
    expect(await balances()).toEqual([
      { name: 'ada', balance: 11 },
      { name: 'bo', balance: 5 },
    ]);
  });

  it('fails a write that waited out its busy timeout, and writes none of it', async () => {
    const holder = new Database(file);
    const waiter = new Database(file);
    waiter.configure('busyTimeout', 150);
    await run(holder, 'BEGIN IMMEDIATE');
    const started = Date.now();
    await expect(run(waiter, "INSERT INTO accounts VALUES ('cy', 1)")).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await run(holder, 'COMMIT');
    expect(await balances()).toEqual([]);
    await new Promise((resolve) => holder.close(resolve));
    await new Promise((resolve) => waiter.close(resolve));
  });

  it('waits for a lock without keeping the thread busy', async () => {
    const holder = new Database(file);
    const waiter = new Database(file);
    await run(holder, 'BEGIN IMMEDIATE');
    const before = process.threadCpuUsage();
    const waited = run(waiter, "INSERT INTO accounts VALUES ('cy', 1)");
    await sleep(300);
    const used = process.threadCpuUsage(before);
    await run(holder, 'COMMIT');
    await waited;
    // Retried on a timer, up to every 20 ms: a few milliseconds of the thread, not the 300 ms it spent
    // when a refused statement woke itself at every turn of the event loop.
    expect((used.user + used.system) / 1000).toBeLessThan(60);
    expect(await balances()).toEqual([{ name: 'cy', balance: 1 }]);
    await new Promise((resolve) => holder.close(resolve));
    await new Promise((resolve) => waiter.close(resolve));
  });

  it('reads no transaction of the thread connection half done', async () => {
    await sequelize.query("INSERT INTO accounts VALUES ('ada', 500), ('bo', 500)");
    const writer = await ThreadConnection.open(file, 10_000);
    const reader = new Database(file);
    let moving = true;
    const moves = (async () => {
      for (let i = 0; moving; i++) {
        const [from, to] = i % 2 === 0 ? ['ada', 'bo'] : ['bo', 'ada'];
        await run(writer, 'BEGIN IMMEDIATE');
        await run(writer, 'UPDATE accounts SET balance = balance - 7 WHERE name = ?', [from]);
        await run(writer, 'UPDATE accounts SET balance = balance + 7 WHERE name = ?', [to]);
        await run(writer, 'COMMIT');
        if (i % 50 === 0) await run(writer, 'PRAGMA wal_checkpoint(PASSIVE)');
      }
    })();
    const sums = new Map<number, number>();
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      const rows = await new Promise<{ total: number; n: number }[]>((resolve, reject) =>
        reader.all(
          'SELECT SUM(balance) AS total, COUNT(*) AS n FROM accounts',
          [],
          (err: Error | null, found: unknown) => (err ? reject(err) : resolve(found as { total: number; n: number }[])),
        ),
      );
      const key = rows[0]!.total * 10 + rows[0]!.n;
      sums.set(key, (sums.get(key) ?? 0) + 1);
      await new Promise(setImmediate);
    }
    moving = false;
    await moves;
    // Every read saw both rows and the whole amount: a move between them is seen whole or not at all.
    expect([...sums.keys()]).toEqual([1000 * 10 + 2]);
    expect(sums.get(10_002)).toBeGreaterThan(100);
    await new Promise((resolve) => writer.close(resolve));
    await new Promise((resolve) => reader.close(resolve));
  });

  it("lets a main-thread writer in between a thread's commits that follow one another", async () => {
    const writer = await ThreadConnection.open(file, 10_000);
    await sequelize.query('CREATE TABLE log (n INTEGER)');
    let committing = true;
    // As the gateway's store commits under load: one commit at a time, the next sent as the last ends.
    const commits = (async () => {
      for (let n = 0; committing; n++) {
        await writer.commitGroup([
          Array.from({ length: 50 }, () => ({ sql: 'INSERT INTO log VALUES (?)', values: [n] })),
        ]);
      }
    })();
    const other = new Database(file);
    other.configure('busyTimeout', 1000);
    try {
      for (let i = 0; i < 10; i++) {
        await run(other, 'BEGIN IMMEDIATE');
        await run(other, 'INSERT INTO accounts VALUES (?, ?)', [`p${i}`, i]);
        await run(other, 'COMMIT');
      }
    } finally {
      committing = false;
      await commits;
      await new Promise((resolve) => other.close(resolve));
      await new Promise((resolve) => writer.close(resolve));
    }
    expect(await balances()).toHaveLength(10);
  });

  it('commits what was sent to the thread before it closed', async () => {
    const writer = await ThreadConnection.open(file, 10_000);
    const sent = run(writer, "INSERT INTO accounts VALUES ('dee', 3)");
    await new Promise((resolve) => writer.close(resolve));
    await sent;
    await expect(run(writer, "INSERT INTO accounts VALUES ('eve', 4)")).rejects.toThrow(/closed/);
    expect(await balances()).toEqual([{ name: 'dee', balance: 3 }]);
  });

  it("commits a thread's group in one call: a failing list fails alone, a failing commit fails all", async () => {
    // A deferred foreign key is checked at COMMIT: the one way to make a commit itself fail here.
    await sequelize.query(
      'CREATE TABLE cards (owner TEXT REFERENCES accounts (name) DEFERRABLE INITIALLY DEFERRED, label TEXT)',
    );
    await sequelize.query("INSERT INTO accounts VALUES ('ada', 1)");
    const writer = await ThreadConnection.open(file, 10_000);
    const card = (owner: string, label: unknown) => ({
      sql: 'INSERT INTO cards VALUES (?, ?)',
      values: [owner, label],
    });
    const raise = { sql: "UPDATE accounts SET balance = balance + 1 WHERE name = 'ada'", values: [] };
    const nowhere = { sql: 'INSERT INTO nowhere VALUES (1)', values: [] };

    const outcomes = await writer.commitGroup([
      [card('ada', 'a\u0000b'), raise],
      [raise, nowhere, raise],
      [{ sql: "UPDATE accounts SET balance = 0 WHERE name = 'nobody'", values: [] }],
    ]);
    expect(outcomes.map((o) => o.changed)).toEqual([[1, 1], [1], [0]]);
    expect(outcomes.map((o) => o.error?.message ?? null)).toEqual([null, expect.stringMatching(/no such table/), null]);
    await expect(writer.commitGroup([[raise], [card('nobody', 'x')]])).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT',
    });

    // The first group stayed whole, NUL and all (the list that failed kept its statement before the
    // failure, as in autocommit); the group whose commit failed left nothing.
    const cards = await sequelize.query<{ label: string }>('SELECT label FROM cards', { type: QueryTypes.SELECT });
    expect(cards).toEqual([{ label: 'a\u0000b' }]);
    expect(await balances()).toEqual([{ name: 'ada', balance: 3 }]);
    await new Promise((resolve) => writer.close(resolve));
  });

  it("hands back the ids SQLite gave the rows of a bulk insert, as Sequelize reads them from sqlite3's answer", async () => {
    const Note = sequelize.define('Note', { text: DataTypes.STRING }, { tableName: 'notes', timestamps: false });
    await Note.sync();
    await Note.create({ text: 'first' });
    const created = await Note.bulkCreate([{ text: 'a' }, { text: 'b' }, { text: 'c' }]);
    expect(created.map((note) => note.get('id'))).toEqual([2, 3, 4]);
    const stored = await Note.findAll({ order: [['id', 'ASC']] });
    expect(stored.map((note) => [note.get('id'), note.get('text')])).toEqual([
      [1, 'first'],
      [2, 'a'],
      [3, 'b'],
      [4, 'c'],
    ]);
  });

  it('reports a duplicate as Sequelize reports one, and changes nothing', async () => {
    await sequelize.query("INSERT INTO accounts VALUES ('ada', 1)");
    await expect(sequelize.query("INSERT INTO accounts VALUES ('ada', 2)")).rejects.toBeInstanceOf(
      UniqueConstraintError,
    );
    const writer = await ThreadConnection.open(file, 10_000);
    await expect(run(writer, "INSERT INTO accounts VALUES ('ada', 3)")).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT',
      message: expect.stringMatching(/^SQLITE_CONSTRAINT: UNIQUE constraint failed: accounts\.name/),
    });
    await new Promise((resolve) => writer.close(resolve));
    expect(await balances()).toEqual([{ name: 'ada', balance: 1 }]);
  });

  it('runs a long read beside the main thread, seeing what was committed, and refuses to write there', async () => {
    await sequelize.query("INSERT INTO accounts VALUES ('ada', 7)");
    const reads = await openLongReads({ url: undefined, sqliteFile: file }, sequelize);
    try {
      // A read that keeps SQLite busy for a while (counting to three million), on the long reads' thread.
      const slow = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
        SELECT COUNT(*) AS counted, (SELECT balance FROM accounts WHERE name = 'ada') AS balance FROM n`;
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = performance.now();
      const [row] = await reads.query<{ counted: number; balance: number }>(slow, { type: QueryTypes.SELECT });
      const took = performance.now() - started;
      clearInterval(timer);
      expect(row).toEqual({ counted: 3_000_000, balance: 7 });
      // The main thread went on meanwhile: its timer ticked all along (with the read on the main thread it
      // does not tick at all). Counted, not timed: another process on the two cores can stretch any gap.
      expect(took).toBeGreaterThan(100);
      expect(ticks).toBeGreaterThan(took / 50);
      await expect(reads.query("UPDATE accounts SET balance = 8 WHERE name = 'ada'")).rejects.toThrow(/readonly/i);
      expect(await balances()).toEqual([{ name: 'ada', balance: 7 }]);
    } finally {
      await closeLongReads(reads, sequelize);
    }
  });
});
