import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Rate limits every process of the domain counts together (webhook posts): core/database-rate-limit.ts.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('rate_limits', {
    key_hash: { type: DataTypes.CHAR(64), primaryKey: true, allowNull: false },
    window_start: { type: DataTypes.BIGINT, allowNull: false },
    count: { type: DataTypes.INTEGER, allowNull: false },
  });
  await qi.addIndex('rate_limits', ['window_start'], { name: 'rate_limits_window_start' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('rate_limits');
};
