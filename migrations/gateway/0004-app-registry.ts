import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

export const up: Migration = async ({ context: { queryInterface: qi, sequelize } }) => {
  // The slug names the app everywhere people see it, and is its bot's address on every node (slug@domain).
  await qi.addColumn('apps', 'slug', { type: DataTypes.STRING(64), allowNull: true });
  await sequelize.query('UPDATE apps SET slug = client_id WHERE slug IS NULL');
  await qi.addIndex('apps', ['slug'], { unique: true, name: 'apps_slug_unique' });

  await qi.addColumn('apps', 'icon', { type: DataTypes.STRING(500), allowNull: true });
  await qi.addColumn('apps', 'description', { type: DataTypes.TEXT, allowNull: true });
  await qi.addColumn('apps', 'home_url', { type: DataTypes.STRING(500), allowNull: true });
  await qi.addColumn('apps', 'interaction_callback_url', { type: DataTypes.STRING(500), allowNull: true });
  // Who may see the app: JSON arrays of unit paths and roles; an empty list does not restrict.
  await qi.addColumn('apps', 'visibility_units', { type: DataTypes.TEXT, allowNull: true });
  await qi.addColumn('apps', 'visibility_roles', { type: DataTypes.TEXT, allowNull: true });
  await qi.addColumn('apps', 'bot_enabled', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  await qi.addColumn('apps', 'disabled', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
  // The unit whose admins manage the app (null: campus-wide, full administrators only).
  await qi.addColumn('apps', 'owner_unit', { type: DataTypes.STRING(255), allowNull: true });
  // The HMAC secret of the app's interaction callbacks, sealed with the gateway's secret.
  await qi.addColumn('apps', 'callback_secret_sealed', { type: DataTypes.TEXT, allowNull: true });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.removeIndex('apps', 'apps_slug_unique');
  for (const column of [
    'callback_secret_sealed',
    'owner_unit',
    'disabled',
    'bot_enabled',
    'visibility_roles',
    'visibility_units',
    'interaction_callback_url',
    'home_url',
    'description',
    'icon',
    'slug',
  ]) {
    await qi.removeColumn('apps', column);
  }
};
