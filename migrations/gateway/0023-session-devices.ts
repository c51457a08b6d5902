import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// What a gateway session was signed in from, noted once at sign-in (gateway/oidc/session-devices.ts), so
// that the account page can list a person's signed-in browsers in plain words and sign one of them out.
// Keyed by the session's uid, which stays the same for the session's life (its cookie's id changes).
// Rows of sessions that ended are swept with the expired OIDC rows.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('session_devices', {
    session_uid: { type: DataTypes.STRING(255), primaryKey: true },
    account_id: { type: DataTypes.STRING(255), allowNull: false },
    user_agent: { type: DataTypes.STRING(512), allowNull: true },
    ip: { type: DataTypes.STRING(64), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('session_devices', ['account_id'], { name: 'session_devices_account_id' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('session_devices');
};
