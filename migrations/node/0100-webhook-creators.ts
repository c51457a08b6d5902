import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Who made a webhook, as the gateway names them (`sub`): when the gateway ends that person's access, the
// node finds their webhooks by it (node/webhooks/ended-creators.ts). Webhooks made before have none.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.addColumn('webhooks', 'creator_sub', { type: DataTypes.STRING(255), allowNull: true });
  await qi.addIndex('webhooks', ['creator_sub'], { name: 'webhooks_creator_sub' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('webhooks', 'webhooks_creator_sub');
  await qi.removeColumn('webhooks', 'creator_sub');
};
