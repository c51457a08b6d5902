import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Since when the gateway's registry has been without an outbox's destination (its domain removed there):
// what waits for it is set aside after a grace period (node/federation/removed-destination.ts). Kept in the
// database rather than in a process, so that neither a restart nor another process starts that period again.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('outbox_peers', 'unregistered_since', { type: DataTypes.DATE(3), allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('outbox_peers', 'unregistered_since');
};
