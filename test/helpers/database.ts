import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

/** Which database this run of the suite uses: ATRIUM_TEST_DB=mariadb or sqlite (default). */
export const testDialect: 'sqlite' | 'mariadb' = process.env.ATRIUM_TEST_DB === 'mariadb' ? 'mariadb' : 'sqlite';
const mariadbAdminUrl = process.env.ATRIUM_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

export type TestDatabase = { url: string | undefined; dataDir: string; name: string; drop(): Promise<void> };

/** A database of its own for one test file (a fresh MariaDB schema or a fresh SQLite folder), dropped after. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), `atrium-${label}-`));
  if (testDialect === 'sqlite') {
    return {
      url: undefined,
      dataDir,
      name: label,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `atrium_t_${label.replace(/[^a-z0-9]/gi, '_').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(mariadbAdminUrl);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(mariadbAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    name,
    async drop() {
      const conn = await mysql.createConnection(mariadbAdminUrl);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
