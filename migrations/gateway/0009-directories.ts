import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

// Campus directories (LDAP / Active Directory) that people and units come from. The service account's
// password is sealed at rest (core/seal.ts); a person's own password is never stored: it is checked by a
// bind. `settings` holds the attribute mapping and role groups as JSON, so a new mapping option needs no
// migration. The sync lease (sync_owner, sync_until) keeps two syncs of one directory from running at
// once, across processes too, through a conditional update of the row.
export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.createTable('directories', {
    id: { type: DataTypes.STRING(36), primaryKey: true },
    name: { type: DataTypes.STRING(64), allowNull: false, unique: true },
    url: { type: DataTypes.STRING(500), allowNull: false },
    ca_file: { type: DataTypes.STRING(1000), allowNull: true },
    bind_dn: { type: DataTypes.STRING(1000), allowNull: false },
    bind_password_sealed: { type: DataTypes.TEXT, allowNull: false },
    settings: { type: DataTypes.TEXT, allowNull: false },
    reset_url: { type: DataTypes.STRING(500), allowNull: true },
    last_report: { type: DataTypes.TEXT, allowNull: true },
    last_sync_at: { type: DataTypes.DATE(3), allowNull: true },
    sync_owner: { type: DataTypes.STRING(64), allowNull: true },
    sync_until: { type: DataTypes.DATE(3), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  // Which people a directory brought, and what the last complete sync saw of them.
  await qi.createTable('directory_accounts', {
    user_id: {
      type: DataTypes.STRING(36),
      primaryKey: true,
      references: { model: 'users', key: 'id' },
      onDelete: 'CASCADE',
    },
    directory_id: {
      type: DataTypes.STRING(36),
      allowNull: false,
      references: { model: 'directories', key: 'id' },
      onDelete: 'RESTRICT',
    },
    dn: { type: DataTypes.STRING(1000), allowNull: false },
    // The sync run that last found the person in the directory; after a complete run, people of the
    // directory with another run here are gone from it.
    seen_run: { type: DataTypes.STRING(36), allowNull: false },
    // True when the sync disabled the person (gone, or disabled in the directory), so that only the sync,
    // never an administrator's own "disable", is undone when they come back.
    disabled_by_directory: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('directory_accounts', ['directory_id', 'seen_run'], { name: 'directory_accounts_directory_seen' });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('directory_accounts');
  await qi.dropTable('directories');
};
