import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Which deleted files the home of their conversation has still to be told of, and when to try next
// (node/attachments/removal-notices.ts): a home out of reach when its file was deleted learns of it
// once it is back, also after a restart. Files deleted before this migration are checked once: a
// message that still offers one is told again (its home takes the same removal only once).
export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.addColumn('removed_attachments', 'untold_home', { type: DataTypes.STRING(253), allowNull: true });
  await qi.addColumn('removed_attachments', 'tell_attempts', {
    type: DataTypes.INTEGER,
    allowNull: false,
    defaultValue: 0,
  });
  await qi.addColumn('removed_attachments', 'tell_after', { type: DataTypes.DATE(3), allowNull: true });
  await qi.addIndex('removed_attachments', ['tell_after'], { name: 'removed_attachments_tell_after' });
  // A replacement, not a bound value: Sequelize writes the date as the dialect keeps dates (SQLite: text).
  await sequelize.query(
    `UPDATE removed_attachments SET tell_after = ?, untold_home = (
       SELECT home_domain FROM conversations WHERE conversations.id = removed_attachments.conversation_id
     ) WHERE conversation_id IS NOT NULL`,
    { replacements: [new Date()] },
  );
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('removed_attachments', 'removed_attachments_tell_after');
  await qi.removeColumn('removed_attachments', 'tell_after');
  await qi.removeColumn('removed_attachments', 'tell_attempts');
  await qi.removeColumn('removed_attachments', 'untold_home');
};
