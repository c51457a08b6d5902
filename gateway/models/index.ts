import type { Sequelize } from 'sequelize';
import { defineAccountModels, type AccountModels } from './accounts.ts';
import { defineAppModels, type AppModels } from './apps.ts';
import { defineAuditModels, type AuditModels } from './audit.ts';
import { defineDirectoryModels, type DirectoryModels } from './directories.ts';
import { defineFactorModels, type FactorModels } from './factors.ts';
import { defineFederationModels, type FederationModels } from './federation.ts';
import { defineNoticeModels, type NoticeModels } from './notices.ts';
import { definePasskeyModels, type PasskeyModels } from './passkeys.ts';
import { defineSignInModels, type SignInModels } from './sign-in.ts';
import { moveReadVersionOnWrites } from '../shared-reads.ts';

export * from './accounts.ts';
export * from './apps.ts';
export * from './audit.ts';
export * from './federation.ts';
export * from './notices.ts';
export * from './sign-in.ts';

export type GatewayModels = AccountModels &
  SignInModels &
  FederationModels &
  AppModels &
  AuditModels &
  FactorModels &
  PasskeyModels &
  DirectoryModels &
  NoticeModels;

/** Binds the gateway's models to one database, group by group (the table shapes live in migrations/gateway). */
export function defineGatewayModels(sequelize: Sequelize): GatewayModels {
  const models: GatewayModels = {
    ...defineAccountModels(sequelize),
    ...defineSignInModels(sequelize),
    ...defineFederationModels(sequelize),
    ...defineAppModels(sequelize),
    ...defineAuditModels(sequelize),
    ...defineFactorModels(sequelize),
    ...definePasskeyModels(sequelize),
    ...defineDirectoryModels(sequelize),
    ...defineNoticeModels(sequelize),
  };
  moveReadVersionOnWrites(models);
  return models;
}
