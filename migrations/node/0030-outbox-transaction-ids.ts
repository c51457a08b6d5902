import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// The exact outbox rows a transaction to a peer carries. "Every row up to the last id" was not the same
// set: a row whose writing transaction committed after the transaction was formed has a lower id, and was
// deleted with the sent ones without ever being sent.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('outbox_peers', 'txn_ids', { type: DataTypes.TEXT, allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('outbox_peers', 'txn_ids');
};
