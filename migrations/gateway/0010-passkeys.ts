import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Passkeys (WebAuthn credentials), the pending challenges of their ceremonies, and the settings of the
// second-factor policy that are not per role or unit (whether passkeys may sign people in without a password).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('passkeys', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    user_id: {
      type: DataTypes.STRING(36),
      allowNull: false,
      references: { model: 'users', key: 'id' },
      onDelete: 'CASCADE',
    },
    // base64url of the authenticator's credential id; 512 characters keep the unique index within
    // MariaDB's limit for utf8mb4 (ids are 16 to 64 bytes in practice; longer ones are refused).
    credential_id: { type: DataTypes.STRING(512), allowNull: false },
    // base64url of the COSE public key.
    public_key: { type: DataTypes.TEXT, allowNull: false },
    // The authenticator's signature counter: a later use must show a higher one (0 for those that keep none).
    counter: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    transports: { type: DataTypes.STRING(255), allowNull: false, defaultValue: '' },
    name: { type: DataTypes.STRING(64), allowNull: false },
    // Whether the authenticator said the key is backed up (synced between devices).
    backed_up: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    last_used_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  await qi.addIndex('passkeys', ['credential_id'], { name: 'passkeys_credential_id', unique: true });
  await qi.addIndex('passkeys', ['user_id'], { name: 'passkeys_user_id' });

  // One pending challenge per purpose and binding (an interaction, or a portal session), taken once.
  await qi.createTable('passkey_challenges', {
    binding: { type: DataTypes.STRING(255), primaryKey: true },
    purpose: { type: DataTypes.STRING(16), primaryKey: true },
    challenge: { type: DataTypes.STRING(128), allowNull: false },
    user_id: { type: DataTypes.STRING(36), allowNull: true },
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('passkey_challenges', ['expires_at'], { name: 'passkey_challenges_expires_at' });

  await qi.createTable('factor_settings', {
    name: { type: DataTypes.STRING(64), primaryKey: true },
    value: { type: DataTypes.STRING(255), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('factor_settings');
  await qi.dropTable('passkey_challenges');
  await qi.dropTable('passkeys');
};
