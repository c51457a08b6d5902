import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';
import { jsonList, tableOptions, timestamps } from './columns.ts';
import type { Role } from './accounts.ts';

export class App extends Model<InferAttributes<App>, InferCreationAttributes<App>> {
  declare id: string;
  declare clientId: string;
  declare slug: string;
  declare name: string;
  declare icon: string | null;
  declare description: string | null;
  declare homeUrl: string | null;
  declare interactionCallbackUrl: string | null;
  declare visibilityUnits: CreationOptional<string[]>;
  declare visibilityRoles: CreationOptional<Role[]>;
  declare firstParty: boolean;
  declare botEnabled: CreationOptional<boolean>;
  declare disabled: CreationOptional<boolean>;
  declare ownerUnit: string | null;
  declare callbackSecretSealed: string | null;
  /** The callback secret a rotation replaced, while nodes still sign with it too (rotate-secrets.ts). */
  declare callbackSecretPreviousSealed: CreationOptional<string | null>;
  declare callbackSecretPreviousUntil: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export type AppModels = {
  App: typeof App;
};

/** Binds the registered apps (their OIDC clients live in the provider's store). */
export function defineAppModels(sequelize: Sequelize): AppModels {
  const AppModel = fresh(App);

  AppModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      clientId: { type: DataTypes.STRING(255), allowNull: false },
      slug: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      icon: { type: DataTypes.STRING(500), allowNull: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      homeUrl: { type: DataTypes.STRING(500), allowNull: true },
      interactionCallbackUrl: { type: DataTypes.STRING(500), allowNull: true },
      visibilityUnits: jsonList<string>('visibilityUnits'),
      visibilityRoles: jsonList<Role>('visibilityRoles'),
      firstParty: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      botEnabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      disabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      ownerUnit: { type: DataTypes.STRING(255), allowNull: true },
      callbackSecretSealed: { type: DataTypes.TEXT, allowNull: true },
      callbackSecretPreviousSealed: { type: DataTypes.TEXT, allowNull: true },
      callbackSecretPreviousUntil: { type: DataTypes.DATE, allowNull: true },
      ...timestamps,
    },
    tableOptions(sequelize, 'apps'),
  );

  return { App: AppModel };
}
