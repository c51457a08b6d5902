import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Files their uploaders deleted (node/attachments/remove-own-file.ts): what is left of each once its
// record and bytes are gone, so that a download tells it was removed (410) rather than never there.
// A person's own files are listed newest first (node/attachments/list-own-files.ts).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('removed_attachments', {
    id: { type: DataTypes.STRING(36), primaryKey: true, allowNull: false },
    owner: { type: DataTypes.STRING(320), allowNull: false },
    conversation_id: { type: DataTypes.STRING(36), allowNull: true },
    removed_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('attachments', ['owner', 'created_at'], { name: 'attachments_owner_created' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('attachments', 'attachments_owner_created');
  await qi.dropTable('removed_attachments');
};
