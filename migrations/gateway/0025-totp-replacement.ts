import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// A new authenticator secret waiting beside the confirmed one (gateway/factors/replace-totp.ts): sealed,
// bound to the portal session it was shown to, and taking the confirmed one's place only once a code from
// the new phone proves it, so that until then the old app goes on working and the person never has none.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('totp_factors', 'replacement_secret', { type: DataTypes.STRING(500), allowNull: true });
  await qi.addColumn('totp_factors', 'replacement_binding', { type: DataTypes.STRING(255), allowNull: true });
  await qi.addColumn('totp_factors', 'replacement_started_at', { type: DataTypes.DATE(3), allowNull: true });
};

// Dropped in place on both databases (see 0014 on Sequelize's removeColumn and SQLite).
export const down: Migration = async ({ context: { sequelize } }) => {
  for (const column of ['replacement_started_at', 'replacement_binding', 'replacement_secret'])
    await sequelize.query(`ALTER TABLE totp_factors DROP COLUMN ${column}`);
};
