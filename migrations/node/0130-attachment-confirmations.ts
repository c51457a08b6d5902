import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// When a send last named a file, until a visible message is seen to carry it: a send can bind a file and
// then fail, and such a file is deleted (node/attachments/sweep-uncarried.ts), which reads the oldest
// first. Files shared before this migration are checked once, as if named now: some were bound by sends
// that failed.
export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.addColumn('attachments', 'unconfirmed_since', { type: DataTypes.DATE(3), allowNull: true });
  await qi.addIndex('attachments', ['unconfirmed_since'], { name: 'attachments_unconfirmed' });
  // A replacement, not a bound value: Sequelize writes the date as the dialect keeps dates (SQLite: text).
  await sequelize.query('UPDATE attachments SET unconfirmed_since = ? WHERE conversation_id IS NOT NULL', {
    replacements: [new Date()],
  });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('attachments', 'attachments_unconfirmed');
  await qi.removeColumn('attachments', 'unconfirmed_since');
};
