import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// The outbox of security notices (gateway/recovery/notice-outbox.ts): each mail is written here in the
// transaction of the change it tells of, and a gateway process sends it, retrying a mail server that refuses
// or does not answer. `tries` counts the sends begun and is what a process claims a row by; `next_at` is when
// a pending row is due (a claimed one's, when its claim lapses); `done_at` when it was sent or given up on,
// for the sweep. The sender reads pending rows by due time, oldest first: the index `security_notices_due`.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('security_notices', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    recipient: { type: DataTypes.STRING(320), allowNull: false },
    subject: { type: DataTypes.STRING(255), allowNull: false },
    body: { type: DataTypes.TEXT, allowNull: false },
    action: { type: DataTypes.STRING(64), allowNull: false },
    account: { type: DataTypes.STRING(255), allowNull: false },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
    tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    next_at: { type: DataTypes.DATE(3), allowNull: false },
    first_tried_at: { type: DataTypes.DATE(3), allowNull: true },
    last_error: { type: DataTypes.STRING(500), allowNull: true },
    done_at: { type: DataTypes.DATE(3), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('security_notices', ['status', 'next_at', 'id'], { name: 'security_notices_due' });
  await qi.addIndex('security_notices', ['done_at'], { name: 'security_notices_done' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('security_notices');
};
