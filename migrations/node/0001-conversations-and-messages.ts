import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

const ADDRESS = DataTypes.STRING(320);

export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('conversations', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    kind: { type: DataTypes.STRING(8), allowNull: false },
    home_domain: { type: DataTypes.STRING(253), allowNull: false },
    title: { type: DataTypes.STRING(200), allowNull: true },
    // For direct conversations: the two addresses, sorted, so a pair has exactly one conversation.
    direct_key: { type: DataTypes.STRING(645), allowNull: true, unique: true },
    last_seq: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    created_by: { type: ADDRESS, allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('conversations', ['updated_at']);

  await qi.createTable('members', {
    conversation_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'conversations', key: 'id' },
      onDelete: 'CASCADE',
    },
    address: { type: ADDRESS, primaryKey: true },
    role: { type: DataTypes.STRING(8), allowNull: false },
    state: { type: DataTypes.STRING(8), allowNull: false },
    joined_seq: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    read_seq: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    delivered_seq: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('members', ['address', 'state']);

  await qi.createTable('messages', {
    conversation_id: { type: DataTypes.STRING(36), primaryKey: true },
    seq: { type: DataTypes.BIGINT, primaryKey: true },
    id: { type: DataTypes.STRING(36), allowNull: false, unique: true },
    sender: { type: ADDRESS, allowNull: false },
    client_msg_id: { type: DataTypes.STRING(64), allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    body: { type: DataTypes.TEXT, allowNull: false },
    ref_id: { type: DataTypes.STRING(36), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    edited_at: { type: DataTypes.DATE(3), allowNull: true },
    recalled_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  // A retried send (same sender, same client message id) must find the first one.
  await qi.addIndex('messages', ['sender', 'client_msg_id'], { unique: true, name: 'messages_sender_client_msg_id' });

  await qi.createTable('attachments', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    owner: { type: ADDRESS, allowNull: false },
    conversation_id: { type: DataTypes.STRING(36), allowNull: true },
    name: { type: DataTypes.STRING(255), allowNull: false },
    content_type: { type: DataTypes.STRING(100), allowNull: false },
    size: { type: DataTypes.BIGINT, allowNull: false },
    sha256: { type: DataTypes.STRING(64), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('attachments', ['conversation_id']);
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  for (const table of ['attachments', 'messages', 'members', 'conversations']) await qi.dropTable(table);
};
