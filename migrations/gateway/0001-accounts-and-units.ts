import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

const timestamps = {
  created_at: { type: DataTypes.DATE(3), allowNull: false },
  updated_at: { type: DataTypes.DATE(3), allowNull: false },
};

export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('org_units', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    path: { type: DataTypes.STRING(255), allowNull: false, unique: true },
    name: { type: DataTypes.STRING(200), allowNull: false },
    parent_id: {
      type: DataTypes.STRING(36),
      allowNull: true,
      references: { model: 'org_units', key: 'id' },
      onDelete: 'RESTRICT',
    },
    ...timestamps,
  });

  await qi.createTable('users', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    username: { type: DataTypes.STRING(64), allowNull: false, unique: true },
    email: { type: DataTypes.STRING(254), allowNull: false, unique: true },
    display_name: { type: DataTypes.STRING(200), allowNull: false },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
    password_hash: { type: DataTypes.STRING(255), allowNull: true },
    roles: { type: DataTypes.STRING(255), allowNull: false, defaultValue: '' },
    failed_logins: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    locked_until: { type: DataTypes.DATE(3), allowNull: true },
    last_login_at: { type: DataTypes.DATE(3), allowNull: true },
    ...timestamps,
  });

  await qi.createTable('memberships', {
    user_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'users', key: 'id' },
      onDelete: 'CASCADE',
    },
    unit_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'org_units', key: 'id' },
      onDelete: 'RESTRICT',
    },
    is_primary: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
  });
  await qi.addIndex('memberships', ['unit_id']);

  await qi.createTable('domains', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    name: { type: DataTypes.STRING(253), allowNull: false, unique: true },
    url: { type: DataTypes.STRING(500), allowNull: false, unique: true },
    ...timestamps,
  });

  await qi.createTable('domain_units', {
    domain_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'domains', key: 'id' },
      onDelete: 'CASCADE',
    },
    unit_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'org_units', key: 'id' },
      onDelete: 'RESTRICT',
    },
  });

  await qi.createTable('audit_events', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    at: { type: DataTypes.DATE(3), allowNull: false },
    actor_id: { type: DataTypes.STRING(36), allowNull: true },
    actor_name: { type: DataTypes.STRING(200), allowNull: true },
    action: { type: DataTypes.STRING(64), allowNull: false },
    target: { type: DataTypes.STRING(255), allowNull: true },
    outcome: { type: DataTypes.STRING(16), allowNull: false },
    ip: { type: DataTypes.STRING(64), allowNull: true },
    details: { type: DataTypes.TEXT, allowNull: true },
  });
  await qi.addIndex('audit_events', ['at']);
  await qi.addIndex('audit_events', ['action']);
  await qi.addIndex('audit_events', ['actor_id']);
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  for (const table of ['audit_events', 'domain_units', 'domains', 'memberships', 'users', 'org_units']) {
    await qi.dropTable(table);
  }
};
