import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// The callback secret a rotation replaced, sealed as the current one is, and the end of its grace: until
// then the nodes sign each card click with both (gateway/apps-registry/rotate-secrets.ts). A rotated client
// secret's predecessor needs no column: it is kept in the client's own row of oidc_payloads, beside the
// current one (client_secret_previous_sealed / client_secret_previous_until).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('apps', 'callback_secret_previous_sealed', { type: DataTypes.TEXT, allowNull: true });
  await qi.addColumn('apps', 'callback_secret_previous_until', { type: DataTypes.DATE(3), allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('apps', 'callback_secret_previous_until');
  await qi.removeColumn('apps', 'callback_secret_previous_sealed');
};
