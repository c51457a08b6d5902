import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { oidcStatementsFor, type OidcStatements } from '../../gateway/oidc/statements.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../helpers/database.ts';

let db: TestDatabase;
let sequelize: Sequelize;
let statements: OidcStatements;

const connectionId = async () =>
  (await statements.select<{ id: number }>({ sql: 'SELECT CONNECTION_ID() AS id', values: [] }))[0]!.id;

describe.skipIf(testDialect === 'sqlite')("the provider's store on MariaDB", () => {
  beforeAll(async () => {
    db = await createTestDatabase('mariadb-statements');
    sequelize = await openDatabase({ url: db.url, sqliteFile: join(db.dataDir, 'gateway.sqlite') });
    await migrate(sequelize, 'gateway');
    statements = oidcStatementsFor(sequelize);
  });
  afterAll(async () => {
    await sequelize?.close();
    await db?.drop();
  });

  it('rejects a statement the server refuses with its message and code, and goes on with the next', async () => {
    await expect(
      statements.select({ sql: 'SELECT id FROM oidc_nothing WHERE id = ?', values: ['x'] }),
    ).rejects.toMatchObject({
      code: 'ER_NO_SUCH_TABLE',
      message: expect.stringMatching(/oidc_nothing' doesn't exist.*SELECT id FROM oidc_nothing/),
    });
    const sql = 'DELETE FROM oidc_nothing WHERE id = ?';
    await expect(statements.write([{ sql, values: ['x'] }])).rejects.toMatchObject({ code: 'ER_NO_SUCH_TABLE' });
    expect(await connectionId()).toBeTypeOf('number');
  });

  it('rejects a statement whose connection was lost, and runs the next ones on connections that work', async () => {
    const slow = statements.select({ sql: 'SELECT SLEEP(?) AS slept', values: [20] });
    const outcome = slow.then(
      () => 'answered',
      (error: Error & { code?: string }) => error,
    );
    const admin = await mysql.createConnection(new URL(db.url!).toString());
    try {
      let killed: number | undefined;
      await expect
        .poll(async () => {
          const [rows] = await admin.query<mysql.RowDataPacket[]>(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND info LIKE 'SELECT SLEEP%'",
            [db.name],
          );
          killed = rows[0]?.id;
          return killed;
        })
        .toBeTypeOf('number');
      await admin.query(`KILL CONNECTION ${Number(killed)}`);
      expect(await outcome).toMatchObject({ code: 'PROTOCOL_CONNECTION_LOST' });
      // More at once than the pool keeps idle: none is handed the lost connection.
      const ids = await Promise.all(Array.from({ length: 12 }, connectionId));
      expect(ids).not.toContain(killed);
    } finally {
      await admin.end();
    }
  });

  it('binds values without going through the text formatting that refuses them', async () => {
    const [row] = await statements.select<{ answer: string }>({
      sql: 'SELECT CONCAT(?, ?) AS answer',
      values: ['4', '2'],
    });
    expect(row).toEqual({ answer: '42' });
    // A statement given values through query() is still refused rather than sent unfilled.
    const manager = sequelize.connectionManager as unknown as {
      getConnection(options: object): Promise<{ query(sql: string, values: unknown[], cb: () => void): void }>;
      releaseConnection(connection: unknown): void;
    };
    const connection = await manager.getConnection({ type: 'write' });
    try {
      expect(() => connection.query('SELECT ? AS answer', [42], () => {})).toThrow(/no values to fill in/);
    } finally {
      manager.releaseConnection(connection);
    }
  });
});
