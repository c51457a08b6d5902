import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { fresh } from '../../core/model-class.ts';

/** A registered campus directory (migrations/gateway/0009-directories.ts). */
export class Directory extends Model<InferAttributes<Directory>, InferCreationAttributes<Directory>> {
  declare id: string;
  declare name: string;
  declare url: string;
  declare caFile: string | null;
  declare bindDn: string;
  /** Sealed (core/seal.ts, purpose `directory-bind-passwords`); never shown back. */
  declare bindPasswordSealed: string;
  /** JSON of DirectorySettings (gateway/directories/schemas.ts). */
  declare settings: string;
  declare resetUrl: string | null;
  /** JSON of the last SyncReport. */
  declare lastReport: CreationOptional<string | null>;
  declare lastSyncAt: CreationOptional<Date | null>;
  declare syncOwner: CreationOptional<string | null>;
  declare syncUntil: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

/** A person who came from a directory: their password is checked there, never here. */
export class DirectoryAccount extends Model<
  InferAttributes<DirectoryAccount>,
  InferCreationAttributes<DirectoryAccount>
> {
  declare userId: string;
  declare directoryId: string;
  declare dn: string;
  /** The entry's stable id (gateway/directories/entry-id.ts); null until a sync reads it, or without one. */
  declare entryId: CreationOptional<string | null>;
  /**
   * The username the entry carried when a sync last read it, which may no longer be the Atrium username
   * (the directory renamed them); the sign-in takes it for them (gateway/directories/directory-username.ts).
   */
  declare directoryUsername: CreationOptional<string | null>;
  declare seenRun: string;
  declare disabledByDirectory: CreationOptional<boolean>;
  /**
   * When the entry's password last changed, as the directory wrote it; "" when the entry had none, null
   * before it was first read (gateway/directories/password-changes.ts).
   */
  declare passwordChanged: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

export type DirectoryModels = { Directory: typeof Directory; DirectoryAccount: typeof DirectoryAccount };

export function defineDirectoryModels(sequelize: Sequelize): DirectoryModels {
  const DirectoryModel = fresh(Directory);
  const DirectoryAccountModel = fresh(DirectoryAccount);
  const timestamps = { createdAt: DataTypes.DATE(3), updatedAt: DataTypes.DATE(3) };
  DirectoryModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      name: { type: DataTypes.STRING(64), allowNull: false },
      url: { type: DataTypes.STRING(500), allowNull: false },
      caFile: { type: DataTypes.STRING(1000), allowNull: true },
      bindDn: { type: DataTypes.STRING(1000), allowNull: false },
      bindPasswordSealed: { type: DataTypes.TEXT, allowNull: false },
      settings: { type: DataTypes.TEXT, allowNull: false },
      resetUrl: { type: DataTypes.STRING(500), allowNull: true },
      lastReport: { type: DataTypes.TEXT, allowNull: true },
      lastSyncAt: { type: DataTypes.DATE(3), allowNull: true },
      syncOwner: { type: DataTypes.STRING(64), allowNull: true },
      syncUntil: { type: DataTypes.DATE(3), allowNull: true },
      ...timestamps,
    },
    { sequelize, tableName: 'directories', underscored: true },
  );
  DirectoryAccountModel.init(
    {
      userId: { type: DataTypes.STRING(36), primaryKey: true },
      directoryId: { type: DataTypes.STRING(36), allowNull: false },
      dn: { type: DataTypes.STRING(1000), allowNull: false },
      entryId: { type: DataTypes.STRING(512), allowNull: true },
      directoryUsername: { type: DataTypes.STRING(64), allowNull: true },
      seenRun: { type: DataTypes.STRING(36), allowNull: false },
      disabledByDirectory: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      passwordChanged: { type: DataTypes.STRING(255), allowNull: true },
      ...timestamps,
    },
    { sequelize, tableName: 'directory_accounts', underscored: true },
  );
  return { Directory: DirectoryModel, DirectoryAccount: DirectoryAccountModel };
}
