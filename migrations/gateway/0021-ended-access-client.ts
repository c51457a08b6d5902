import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Access ended for one app only: a person took back what they had allowed a third-party app
// (gateway/oidc/allowed-apps.ts), so the nodes refuse the access tokens that app was issued for them until
// then, while their other apps and sessions go on. Null, as every row before, concerns every app.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('ended_access', 'client_id', { type: DataTypes.STRING(255), allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  await sequelize.query('ALTER TABLE ended_access DROP COLUMN client_id');
};
