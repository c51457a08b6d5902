import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Which processes of the domain are alive, so that an outbox lease held by one that is gone (crashed,
// killed, restarted) is taken over at once instead of after the lease's 30 s (node/federation/liveness.ts).
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('node_processes', {
    process_id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    instance: { type: DataTypes.STRING(300), allowNull: false },
    started_at: { type: DataTypes.DATE(3), allowNull: false },
    seen_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('node_processes', ['instance'], { name: 'node_processes_instance' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('node_processes');
};
