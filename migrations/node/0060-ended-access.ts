import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Sessions and people whose access the gateway ended: every process of the domain refuses the access
// tokens issued before, also after a restart, until those tokens would have expired anyway.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('ended_access', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    kind: { type: DataTypes.STRING(8), allowNull: false },
    subject: { type: DataTypes.STRING(255), allowNull: false },
    ended_at: { type: DataTypes.BIGINT, allowNull: false },
    keep_until: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('ended_access', ['kind', 'subject', 'ended_at'], { name: 'ended_access_entry', unique: true });
  await qi.addIndex('ended_access', ['keep_until'], { name: 'ended_access_keep_until' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('ended_access');
};
