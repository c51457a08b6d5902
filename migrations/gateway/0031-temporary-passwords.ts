import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A password an administrator set (console, `users reset-password`, an import) is temporary unless they
// chose otherwise: the person chooses their own at their next sign-in. Passwords set before this are kept
// as they were, as the person's own.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('users', 'must_change_password', {
    type: DataTypes.BOOLEAN,
    allowNull: false,
    defaultValue: false,
  });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE users DROP COLUMN must_change_password');
};
