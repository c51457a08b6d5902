import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A second factor (TOTP) per person, its single-use recovery codes, and which roles or units must have one.
// The TOTP secret is sealed at rest; recovery codes are kept only as hashes.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('totp_factors', {
    user_id: { type: DataTypes.STRING(36), primaryKey: true },
    secret: { type: DataTypes.STRING(500), allowNull: false },
    // Null while the person has scanned the code but not yet confirmed it with one code.
    confirmed_at: { type: DataTypes.DATE(3), allowNull: true },
    // The last 30-second time step whose code was accepted: a code of that step or an earlier one is a replay.
    last_step: { type: DataTypes.BIGINT, allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.createTable('recovery_codes', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    user_id: { type: DataTypes.STRING(36), allowNull: false },
    code_hash: { type: DataTypes.STRING(64), allowNull: false },
    used_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  await qi.addIndex('recovery_codes', ['user_id'], { name: 'recovery_codes_user_id' });
  await qi.createTable('factor_requirements', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    kind: { type: DataTypes.STRING(8), allowNull: false },
    value: { type: DataTypes.STRING(255), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('factor_requirements', ['kind', 'value'], { name: 'factor_requirements_kind_value', unique: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('factor_requirements');
  await qi.removeIndex('recovery_codes', 'recovery_codes_user_id');
  await qi.dropTable('recovery_codes');
  await qi.dropTable('totp_factors');
};
