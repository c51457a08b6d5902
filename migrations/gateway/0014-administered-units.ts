import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Which of a person's units a unit admin administers: every unit of a local one (the default), only the
// units of their unit-admin groups for a directory person, not the unit their own entry places them in.
// Nothing recorded which of a directory person's memberships came from such a group, so theirs start
// as administering nothing: the next sync of their directory sets the units of their groups again.
export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.addColumn('memberships', 'administers', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true });
  await sequelize.query(
    'UPDATE memberships SET administers = 0 WHERE user_id IN (SELECT user_id FROM directory_accounts)',
  );
};

// Sequelize's removeColumn rebuilds a SQLite table, and loses the composite primary key on the way (each
// of its columns comes back unique): anyone in two units would stop the rebuild. Both databases drop a
// column in place.
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE memberships DROP COLUMN administers');
};
