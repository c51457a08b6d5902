import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// "Forgot password" links. The random token itself only ever travels in the mail; the database holds its
// SHA-256, so a read of this table (a backup, a replica) gives nobody a working link. A row is spent by
// setting used_at, which also keeps the refusal of a reused link explainable in the audit log.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('password_resets', {
    token_hash: { type: DataTypes.STRING(64), primaryKey: true },
    user_id: {
      type: DataTypes.STRING(36),
      allowNull: false,
      references: { model: 'users', key: 'id' },
      onDelete: 'CASCADE',
    },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
    used_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  await qi.addIndex('password_resets', ['user_id'], { name: 'password_resets_user_id' });
  await qi.addIndex('password_resets', ['expires_at'], { name: 'password_resets_expires_at' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('password_resets');
};
