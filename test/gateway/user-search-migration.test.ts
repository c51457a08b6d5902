import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import { operator } from '../../gateway/context.ts';
import { listUsers } from '../../gateway/accounts/list-users.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Upgrading to the version whose search folds case and accents (migration 0024): the people already there
 * get their search text, and are found as new people are.
 */
let gateway: TestGateway;
const searched = async (q: string) =>
  (await listUsers({ ...gateway.context(null), actor: operator('test') }, { q })).users.map((u) => u.username);

beforeAll(async () => {
  gateway = await startTestGateway('search-upgrade');
  const migrator = createMigrator(gateway.sequelize, 'gateway');
  await migrator.down({ to: '0024-user-search-text.ts' });
  await expect(gateway.sequelize.query('SELECT search_text FROM users')).rejects.toThrow();
  // What the version before wrote: a name it found only as typed on SQLite.
  await gateway.sequelize.query("UPDATE users SET display_name = 'Carol Ünïcødé' WHERE username = 'carol'");
  await migrator.up();
});
afterAll(async () => gateway?.stop());

describe('upgrading to folded search', () => {
  it('finds the people already there by any case of their name, username or email, accents or not', async () => {
    for (const q of ['ünïc', 'ÜNÏC', 'unicode', 'CAROL@']) expect(await searched(q), q).toEqual(['carol']);
    expect(await searched('Okafor')).toEqual(['dave']);
  });
});
