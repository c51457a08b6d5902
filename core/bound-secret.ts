import type { Sequelize } from 'sequelize';

/**
 * The operator's secret, bound to a database handle by the composition root that opened it, for code that
 * is handed only the handle yet seals or opens what the database holds sealed: the gateway's OIDC store
 * (oidc-provider builds it from the models alone) and migrations. Without a binding such code fails
 * rather than store a secret in the clear.
 */
const secrets = new WeakMap<Sequelize, string>();

export function bindSecretKey(sequelize: Sequelize, secretKey: string): void {
  secrets.set(sequelize, secretKey);
}

export function boundSecretKey(sequelize: Sequelize): string {
  const secret = secrets.get(sequelize);
  if (secret === undefined) throw new Error('No secret key was bound to this database handle (bindSecretKey)');
  return secret;
}
