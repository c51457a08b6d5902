import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';
import { mediumText } from '../../core/model-class.ts';

export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  // Every model oidc-provider persists (sessions, grants, tokens, codes, clients, interactions...).
  await qi.createTable('oidc_payloads', {
    model: { type: DataTypes.STRING(40), primaryKey: true },
    id: { type: DataTypes.STRING(255), primaryKey: true },
    payload: { type: mediumText(sequelize), allowNull: false },
    grant_id: { type: DataTypes.STRING(255), allowNull: true },
    user_code: { type: DataTypes.STRING(255), allowNull: true },
    uid: { type: DataTypes.STRING(255), allowNull: true },
    expires_at: { type: DataTypes.DATE(3), allowNull: true },
    consumed_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  await qi.addIndex('oidc_payloads', ['grant_id']);
  await qi.addIndex('oidc_payloads', ['uid']);
  await qi.addIndex('oidc_payloads', ['user_code']);
  await qi.addIndex('oidc_payloads', ['expires_at']);

  await qi.createTable('signing_keys', {
    kid: { type: DataTypes.STRING(64), primaryKey: true },
    alg: { type: DataTypes.STRING(16), allowNull: false },
    public_jwk: { type: DataTypes.TEXT, allowNull: false },
    private_jwk_sealed: { type: DataTypes.TEXT, allowNull: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    retired_at: { type: DataTypes.DATE(3), allowNull: true },
  });

  await qi.createTable('web_sessions', {
    sid: { type: DataTypes.STRING(255), primaryKey: true },
    data: { type: DataTypes.TEXT, allowNull: false },
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('web_sessions', ['expires_at']);

  await qi.createTable('apps', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    client_id: { type: DataTypes.STRING(255), allowNull: false, unique: true },
    name: { type: DataTypes.STRING(200), allowNull: false },
    first_party: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  for (const table of ['apps', 'web_sessions', 'signing_keys', 'oidc_payloads']) await qi.dropTable(table);
};
