import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Signed requests from other domains that this domain took, so that the same request sent again (within
// its timestamp's window) is refused by every process of the domain, also after a restart
// (node/federation/seen-requests.ts).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('seen_requests', {
    digest: { type: DataTypes.CHAR(43), primaryKey: true, allowNull: false },
    seen_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('seen_requests', ['seen_at'], { name: 'seen_requests_seen_at' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('seen_requests');
};
