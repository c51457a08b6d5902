import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// One counter that every write to the people, units, apps, clients and domain nodes moves in its own
// transaction: each gateway process keeps those reads in memory and drops them when the counter moved
// (gateway/shared-reads.ts), so a change counts from the very next request in every process.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('read_version', {
    id: { type: DataTypes.INTEGER, primaryKey: true },
    version: { type: DataTypes.BIGINT, allowNull: false },
  });
  await qi.bulkInsert('read_version', [{ id: 1, version: 0 }]);
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('read_version');
};
