import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// The hashes of a person's last two sets of recovery codes that newer ones replaced (gateway/factors/
// recovery-codes.ts): a code from one of them is still refused, but the sign-in can say that its set was
// replaced, and when, rather than suggest a typing mistake. `replaced_at` is in milliseconds, as
// rate_limits keeps its times: the rows are written and read in plain SQL, the same on both databases.
// A helpdesk reset of the person's second factors removes them with the codes.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('replaced_recovery_codes', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    user_id: { type: DataTypes.STRING(36), allowNull: false },
    code_hash: { type: DataTypes.STRING(64), allowNull: false },
    replaced_at: { type: DataTypes.BIGINT, allowNull: false },
  });
  await qi.addIndex('replaced_recovery_codes', ['user_id', 'code_hash'], { name: 'replaced_recovery_codes_user_code' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('replaced_recovery_codes');
};
