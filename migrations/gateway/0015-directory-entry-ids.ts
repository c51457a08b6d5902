import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A directory person's link keeps their entry's stable id (gateway/directories/entry-id.ts), one per
// entry of a directory; several links may have none (registered before, or a directory without ids).
// Each registration gets its preset's id attribute. Links start without an id: the next sync takes it
// from the entry that it matches as before, by username, and from then on matches by id alone.
export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.addColumn('directory_accounts', 'entry_id', { type: DataTypes.STRING(512), allowNull: true });
  await qi.addIndex('directory_accounts', ['directory_id', 'entry_id'], {
    name: 'directory_accounts_entry_id',
    unique: true,
  });
  const [rows] = await sequelize.query('SELECT id, settings FROM directories');
  for (const row of rows as { id: string; settings: string }[]) {
    const settings = JSON.parse(row.settings) as Record<string, unknown>;
    if ('idAttribute' in settings) continue;
    settings.idAttribute = settings.preset === 'active-directory' ? 'objectGUID' : 'entryUUID';
    await sequelize.query('UPDATE directories SET settings = ? WHERE id = ?', {
      replacements: [JSON.stringify(settings), row.id],
    });
  }
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.removeIndex('directory_accounts', 'directory_accounts_entry_id');
  await sequelize.query('ALTER TABLE directory_accounts DROP COLUMN entry_id');
  const [rows] = await sequelize.query('SELECT id, settings FROM directories');
  for (const row of rows as { id: string; settings: string }[]) {
    const { idAttribute: _, ...settings } = JSON.parse(row.settings) as Record<string, unknown>;
    await sequelize.query('UPDATE directories SET settings = ? WHERE id = ?', {
      replacements: [JSON.stringify(settings), row.id],
    });
  }
};
