import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A directory person's link keeps when their entry's password last changed, as the directory wrote it
// (pwdLastSet, pwdChangedTime), so that a later change signs them out everywhere
// (gateway/directories/password-changes.ts). Null until their directory is next read: that first read
// only notes the value, so upgrading signs nobody out.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('directory_accounts', 'password_changed', { type: DataTypes.STRING(255), allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE directory_accounts DROP COLUMN password_changed');
};
