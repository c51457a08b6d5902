import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A reset link spent because the account changed after it was mailed (a new password set another way,
// access ended, a new email address) is cancelled, not used: the page and the audit log say which. Links
// spent before this column existed stay recorded as used.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('password_resets', 'cancelled_at', { type: DataTypes.DATE(3), allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE password_resets DROP COLUMN cancelled_at');
};
