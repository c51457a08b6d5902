import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Ending a person's access (disable, password reset or change, "sign out everywhere") tells every app
// they were signed in to over its back-channel logout URI. What is to be told is written here with the
// change that ended the access, by whichever process made it (the CLI included), and the gateway sends
// it after commit, retrying an app that does not answer (gateway/oidc/app-logouts.ts). `tries` counts
// the sends begun and is what a gateway process claims a row by; `next_at` is when the row is due.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('app_logouts', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    client_id: { type: DataTypes.STRING(255), allowNull: false },
    account_id: { type: DataTypes.STRING(255), allowNull: false },
    sid: { type: DataTypes.STRING(255), allowNull: false },
    tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    next_at: { type: DataTypes.DATE(3), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('app_logouts', ['next_at'], { name: 'app_logouts_next_at' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('app_logouts');
};
