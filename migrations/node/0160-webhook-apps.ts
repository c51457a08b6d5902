import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// The app whose token made a webhook (its client id, and its name then): the webhook is listed as made by
// that app for its creator, and ends when the creator's access to that app ends, or the app is disabled or
// deleted (node/webhooks/ended-creators.ts). Null, as every row before, for a webhook made in the portal.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('webhooks', 'client_id', { type: DataTypes.STRING(255), allowNull: true });
  await qi.addColumn('webhooks', 'app_name', { type: DataTypes.STRING(200), allowNull: true });
  await qi.addIndex('webhooks', ['client_id'], { name: 'webhooks_client_id' });
};

// Dropped in place on both databases (Sequelize's removeColumn rebuilds an SQLite table).
export const down: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.removeIndex('webhooks', 'webhooks_client_id');
  await sequelize.query('ALTER TABLE webhooks DROP COLUMN app_name');
  await sequelize.query('ALTER TABLE webhooks DROP COLUMN client_id');
};
