import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A temporary password works for TEMPORARY_PASSWORD_DAYS after an administrator set it, then no more:
// whoever saw it (the helpdesk, a printed import sheet) cannot sign in with it later, though the person
// went on signing in with a passkey and never replaced it. Those set before this get the days from now.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('users', 'temporary_password_until', { type: DataTypes.DATE(3), allowNull: true });
  // 14: the days Atrium gives a temporary password (TEMPORARY_PASSWORD_DAYS, gateway/accounts/temporary-password.ts).
  const until = new Date(Date.now() + 14 * 24 * 60 * 60_000);
  await qi.bulkUpdate('users', { temporary_password_until: until }, { must_change_password: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE users DROP COLUMN temporary_password_until');
};
