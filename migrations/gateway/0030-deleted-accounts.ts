import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A deleted account leaves only this: its username, so that it is never given to someone else (a chat
// address is username@domain, and a new holder would read the old person's conversations), its `sub`,
// which the audit log's rows of it name, when, and the chat addresses it had then (a JSON list), which
// the nodes answer as "Former member" (gateway/accounts/delete-account.ts).
// `ended_access.deleted_addresses`: on the entry that ends a deleted person's access, those addresses,
// told to the nodes so that each takes the person out of the groups it hosts.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('deleted_accounts', {
    username: { type: DataTypes.STRING(64), primaryKey: true },
    user_id: { type: DataTypes.STRING(36), allowNull: false },
    deleted_at: { type: DataTypes.DATE(3), allowNull: false },
    addresses: { type: DataTypes.TEXT, allowNull: false },
  });
  await qi.addColumn('ended_access', 'deleted_addresses', { type: DataTypes.TEXT, allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await sequelize.query('ALTER TABLE ended_access DROP COLUMN deleted_addresses');
  await qi.dropTable('deleted_accounts');
};
