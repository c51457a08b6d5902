import { DataTypes } from 'sequelize';
import type { Migration } from '../../core/migrator.ts';

export const up: Migration = async ({ context: { queryInterface: qi } }) => {
  // The domain's Ed25519 public keys as pinned by an administrator (JSON array of JWKs).
  await qi.addColumn('domains', 'pinned_keys', { type: DataTypes.TEXT, allowNull: true });
  await qi.addColumn('domains', 'pinned_at', { type: DataTypes.DATE(3), allowNull: true });

  // Pairs of domains that may exchange messages and see each other's people; any other pair is denied.
  await qi.createTable('federation_policy', {
    domain_a: { type: DataTypes.STRING(253), primaryKey: true },
    domain_b: { type: DataTypes.STRING(253), primaryKey: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });

  // Proxies (their keys, to fetch the registry) and peer proxies of other organizations (their URLs).
  await qi.createTable('federation_proxies', {
    name: { type: DataTypes.STRING(100), primaryKey: true },
    public_jwk: { type: DataTypes.TEXT, allowNull: true },
    peer_url: { type: DataTypes.STRING(500), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
};

export const down: Migration = async ({ context: { queryInterface: qi } }) => {
  await qi.dropTable('federation_proxies');
  await qi.dropTable('federation_policy');
  await qi.removeColumn('domains', 'pinned_at');
  await qi.removeColumn('domains', 'pinned_keys');
};
