import { join } from 'node:path';
import { Transaction, UniqueConstraintError, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { runStatements, selectRows } from '../../core/statement-block.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

// The flush and the search indexer send their statements with runStatements and selectRows, which on
// MariaDB go around Sequelize's query path. What the flush relies on must hold there as through it.
describe('hand-written statements in a transaction', () => {
  let db: TestDatabase;
  let sequelize: Sequelize;

  beforeAll(async () => {
    db = await createTestDatabase('statements');
    sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'statements.sqlite') });
    await sequelize.query('CREATE TABLE notes (id VARCHAR(20) PRIMARY KEY, text VARCHAR(200) NOT NULL)');
  });
  afterAll(async () => {
    await sequelize.close();
    await db.drop();
  });

  const inTransaction = <T>(work: (tx: Transaction) => Promise<T>) =>
    sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, work);

  it('reads what the transaction wrote, and commits it with the transaction', async () => {
    const seen = await inTransaction(async (tx) => {
      await runStatements(sequelize, tx, [
        "INSERT INTO notes (id, text) VALUES ('n1', 'first'), ('n2', 'it''s second')",
      ]);
      return selectRows<{ id: string; text: string }>(
        sequelize,
        tx,
        "SELECT id, text FROM notes WHERE id IN ('n1', 'n2') ORDER BY id",
      );
    });
    expect(seen).toEqual([
      { id: 'n1', text: 'first' },
      { id: 'n2', text: "it's second" },
    ]);
    const [after] = await sequelize.query("SELECT COUNT(*) AS n FROM notes WHERE id IN ('n1', 'n2')");
    expect(Number((after as { n: number }[])[0]!.n)).toBe(2);
  });

  it("fails a key met twice with Sequelize's own error, and the transaction writes nothing", async () => {
    const attempt = inTransaction(async (tx) => {
      await runStatements(sequelize, tx, ["INSERT INTO notes (id, text) VALUES ('n3', 'third')"]);
      await runStatements(sequelize, tx, ["INSERT INTO notes (id, text) VALUES ('n1', 'again')"]);
    });
    await expect(attempt).rejects.toBeInstanceOf(UniqueConstraintError);
    const rows = await sequelize.query("SELECT id FROM notes WHERE id = 'n3'");
    expect(rows[0]).toEqual([]);
  });

  it('passes each statement through the query hooks, which count statements', async () => {
    const seen: string[] = [];
    sequelize.addHook('afterQuery', 'count', (_options, query) => {
      seen.push((query as unknown as { sql: string }).sql);
    });
    try {
      await inTransaction(async (tx) => {
        await runStatements(sequelize, tx, ["INSERT INTO notes (id, text) VALUES ('n4', 'fourth')"]);
        await selectRows(sequelize, tx, "SELECT id FROM notes WHERE id = 'n4'");
      });
    } finally {
      sequelize.removeHook('afterQuery', 'count');
    }
    expect(seen.filter((sql) => sql.includes("'n4'"))).toEqual([
      "INSERT INTO notes (id, text) VALUES ('n4', 'fourth')",
      "SELECT id FROM notes WHERE id = 'n4'",
    ]);
  });

  it('refuses a statement once its transaction has ended, and sends nothing', async () => {
    let ended: Transaction | undefined;
    await inTransaction(async (tx) => {
      ended = tx;
    });
    await expect(
      runStatements(sequelize, ended!, ["INSERT INTO notes (id, text) VALUES ('n5', 'late')"]),
    ).rejects.toThrow();
    const rows = await sequelize.query("SELECT id FROM notes WHERE id = 'n5'");
    expect(rows[0]).toEqual([]);
  });
});
