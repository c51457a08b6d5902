import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { bigintColumn, fresh } from '../../core/model-class.ts';

/** A registered WebAuthn credential of one person. */
export class Passkey extends Model<InferAttributes<Passkey>, InferCreationAttributes<Passkey>> {
  declare id: string;
  declare userId: string;
  /** base64url, as the browser reports it. */
  declare credentialId: string;
  /** base64url of the COSE public key. */
  declare publicKey: string;
  declare counter: number;
  /** Comma-separated (`internal,hybrid`), as the browser reported them at registration. */
  declare transports: CreationOptional<string>;
  declare name: string;
  declare backedUp: CreationOptional<boolean>;
  declare createdAt: Date;
  declare lastUsedAt: Date | null;
}

export const CHALLENGE_PURPOSES = ['register', 'second-factor', 'passwordless', 'confirm'] as const;
export type ChallengePurpose = (typeof CHALLENGE_PURPOSES)[number];

export class PasskeyChallenge extends Model<
  InferAttributes<PasskeyChallenge>,
  InferCreationAttributes<PasskeyChallenge>
> {
  declare binding: string;
  declare purpose: ChallengePurpose;
  declare challenge: string;
  declare userId: string | null;
  declare expiresAt: Date;
}

export class FactorSetting extends Model<InferAttributes<FactorSetting>, InferCreationAttributes<FactorSetting>> {
  declare name: string;
  declare value: string;
  declare updatedAt: Date;
}

export type PasskeyModels = {
  Passkey: typeof Passkey;
  PasskeyChallenge: typeof PasskeyChallenge;
  FactorSetting: typeof FactorSetting;
};

export function definePasskeyModels(sequelize: Sequelize): PasskeyModels {
  const PasskeyModel = fresh(Passkey);
  const PasskeyChallengeModel = fresh(PasskeyChallenge);
  const FactorSettingModel = fresh(FactorSetting);
  const base = { sequelize, underscored: true, timestamps: false };
  PasskeyModel.init(
    {
      id: { type: DataTypes.STRING(36), primaryKey: true },
      userId: { type: DataTypes.STRING(36), allowNull: false },
      credentialId: { type: DataTypes.STRING(512), allowNull: false },
      publicKey: { type: DataTypes.TEXT, allowNull: false },
      counter: bigintColumn('counter', { defaultValue: 0 }) as never,
      transports: { type: DataTypes.STRING(255), allowNull: false, defaultValue: '' },
      name: { type: DataTypes.STRING(64), allowNull: false },
      backedUp: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      createdAt: { type: DataTypes.DATE(3), allowNull: false },
      lastUsedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { ...base, tableName: 'passkeys' },
  );
  PasskeyChallengeModel.init(
    {
      binding: { type: DataTypes.STRING(255), primaryKey: true },
      purpose: { type: DataTypes.STRING(16), primaryKey: true },
      challenge: { type: DataTypes.STRING(128), allowNull: false },
      userId: { type: DataTypes.STRING(36), allowNull: true },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...base, tableName: 'passkey_challenges' },
  );
  FactorSettingModel.init(
    {
      name: { type: DataTypes.STRING(64), primaryKey: true },
      value: { type: DataTypes.STRING(255), allowNull: false },
      updatedAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    { ...base, tableName: 'factor_settings' },
  );
  return { Passkey: PasskeyModel, PasskeyChallenge: PasskeyChallengeModel, FactorSetting: FactorSettingModel };
}
