import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';
import { mediumText } from '../../core/model-class.ts';

export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  // The node's Ed25519 signing keys for server-to-server requests; private halves sealed at rest.
  await qi.createTable('node_keys', {
    kid: { type: DataTypes.STRING(64), primaryKey: true },
    public_jwk: { type: DataTypes.TEXT, allowNull: false },
    private_jwk_sealed: { type: DataTypes.TEXT, allowNull: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    retired_at: { type: DataTypes.DATE(3), allowNull: true },
  });

  // Events waiting to reach another domain, in order per destination.
  await qi.createTable('outbox', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    destination: { type: DataTypes.STRING(253), allowNull: false },
    event: { type: mediumText(sequelize), allowNull: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('outbox', ['destination', 'id']);

  // Delivery state per destination: the one transaction in flight, attempts and the backoff.
  await qi.createTable('outbox_peers', {
    destination: { type: DataTypes.STRING(253), primaryKey: true },
    txn_id: { type: DataTypes.STRING(64), allowNull: true },
    txn_last_id: { type: DataTypes.BIGINT, allowNull: true },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    next_attempt_at: { type: DataTypes.DATE(3), allowNull: true },
    last_error: { type: DataTypes.STRING(500), allowNull: true },
    // Which process of a multi-process domain delivers to this destination, until when.
    lease_owner: { type: DataTypes.STRING(64), allowNull: true },
    lease_until: { type: DataTypes.DATE(3), allowNull: true },
  });

  // Transactions received from other domains, so a retried or replayed one is applied once.
  await qi.createTable('inbox', {
    origin: { type: DataTypes.STRING(253), primaryKey: true },
    txn_id: { type: DataTypes.STRING(64), primaryKey: true },
    received_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('inbox', ['received_at']);
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  for (const table of ['inbox', 'outbox_peers', 'outbox', 'node_keys']) await qi.dropTable(table);
};
