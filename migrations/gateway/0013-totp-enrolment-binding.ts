import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// What an unconfirmed authenticator secret was shown to (a sign-in interaction, or a portal session):
// only that one may confirm it, and only for a few minutes (gateway/factors/totp.ts). Secrets pending
// from before were shown to whoever opened the page, for as long as nobody confirmed them: they go.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('totp_factors', 'binding', { type: DataTypes.STRING(255), allowNull: true });
  await qi.bulkDelete('totp_factors', { confirmed_at: null });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('totp_factors', 'binding');
};
