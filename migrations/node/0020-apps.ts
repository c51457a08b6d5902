import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  // Incoming webhooks: each posts into one group as `hook-<id>@domain`; only a hash of its secret is kept.
  await qi.createTable('webhooks', {
    id: { type: DataTypes.STRING(32), primaryKey: true },
    conversation_id: { type: DataTypes.STRING(36), allowNull: false },
    name: { type: DataTypes.STRING(80), allowNull: false },
    secret_hash: { type: DataTypes.STRING(64), allowNull: false },
    created_by: { type: DataTypes.STRING(320), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    revoked_at: { type: DataTypes.DATE(3), allowNull: true },
    revoked_by: { type: DataTypes.STRING(320), allowNull: true },
  });
  await qi.addIndex('webhooks', ['conversation_id']);
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('webhooks');
};
