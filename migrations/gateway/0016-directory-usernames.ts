import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A directory person's link keeps the username their entry carries now, which the directory may have
// changed since their Atrium username was taken from it: the sign-in takes it for them when nobody's
// Atrium username or email is what was typed. Not unique, even within one directory: two directories may
// both have a `jon`, a person gone from the directory keeps the last one read, and a sync that swaps two
// names writes one link before the other. Indexed for the sign-in's look-up. Links start without one: the
// next sync of their directory writes it for every person it reads.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('directory_accounts', 'directory_username', { type: DataTypes.STRING(64), allowNull: true });
  await qi.addIndex('directory_accounts', ['directory_username'], { name: 'directory_accounts_directory_username' });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite); SQLite drops no
// indexed column, so the index goes first.
export const down: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.removeIndex('directory_accounts', 'directory_accounts_directory_username');
  await sequelize.query('ALTER TABLE directory_accounts DROP COLUMN directory_username');
};
