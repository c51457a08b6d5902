import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// When the failed sign-ins an account counts began: they count toward its lockout only within
// LOGIN_LOCKOUT_MINUTES of it, as the attempts at a name that does not exist do (gateway/accounts/authenticate.ts).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('users', 'failures_since', { type: DataTypes.DATE(3), allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('users', 'failures_since');
};
