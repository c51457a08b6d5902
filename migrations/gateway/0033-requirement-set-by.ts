import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Who set a second-factor requirement: a unit admin may drop only one a unit admin set, so a campus
// administrator's requirement on a unit stays until a campus administrator drops it. Before unit admins
// could set requirements, only campus administrators and the operator did: every existing one is theirs.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('factor_requirements', 'set_by_campus', {
    type: DataTypes.BOOLEAN,
    allowNull: false,
    defaultValue: true,
  });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE factor_requirements DROP COLUMN set_by_campus');
};
