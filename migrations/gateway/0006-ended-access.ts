import { DataTypes, QueryTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Ending a person's access (disable, password reset, "sign out everywhere") removes every provider
// artefact of theirs: sessions, grants, codes, refresh tokens. Those rows are found by their account.
// Ended subjects and sessions are listed for the domain nodes, which refuse the tokens issued before.
export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  await qi.addColumn('oidc_payloads', 'account_id', { type: DataTypes.STRING(255), allowNull: true });
  await qi.addIndex('oidc_payloads', ['account_id'], { name: 'oidc_payloads_account_id' });
  const rows = await sequelize.query<{ model: string; id: string; payload: string }>(
    'SELECT model, id, payload FROM oidc_payloads',
    { type: QueryTypes.SELECT },
  );
  for (const row of rows) {
    const accountId = (JSON.parse(row.payload) as { accountId?: unknown }).accountId;
    if (typeof accountId !== 'string') continue;
    await sequelize.query('UPDATE oidc_payloads SET account_id = ? WHERE model = ? AND id = ?', {
      replacements: [accountId, row.model, row.id],
    });
  }

  await qi.createTable('ended_access', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    kind: { type: DataTypes.STRING(8), allowNull: false },
    subject: { type: DataTypes.STRING(255), allowNull: false },
    ended_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('ended_access', ['ended_at'], { name: 'ended_access_ended_at' });

  // When an administrator last ended the person's access: console sessions begun before it end too.
  await qi.addColumn('users', 'access_ended_at', { type: DataTypes.DATE(3), allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeColumn('users', 'access_ended_at');
  await qi.dropTable('ended_access');
  await qi.removeIndex('oidc_payloads', 'oidc_payloads_account_id');
  await qi.removeColumn('oidc_payloads', 'account_id');
};
